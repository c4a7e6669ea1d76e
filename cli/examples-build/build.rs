//! Builds the user-facing example guests in `examples/` for wasm32-wasip2 and
//! writes `$OUT_DIR/examples.rs` with the path of each component (see `wasm_build.rs`).

mod lang_build;
mod wasm_build;

use lang_build::Lang;

/// `(constant name, component name, cdylib file stem)` of every example, in the order
/// `all()` lists them.
const EXAMPLES: &[wasm_build::Guest] = &[
    ("COUNTER", "counter", "counter"),
    ("SHOPPING_CART", "shopping-cart", "shopping_cart"),
    ("USER_ACTIVITIES", "user-activities", "user_activities"),
    ("JSON_SUM", "json-sum", "json_sum"),
    ("APPROVAL", "approval", "approval"),
    ("REMINDER", "reminder", "reminder"),
    ("ORDER", "order", "order"),
    ("PAYMENT", "payment", "payment"),
    ("WAREHOUSE", "warehouse", "warehouse"),
    ("SHIPPING", "shipping", "shipping"),
    ("FAN_OUT", "fan-out", "fan_out"),
    ("SQUARE", "square", "square"),
    ("SESSIONIZE", "sessionize", "sessionize"),
    ("DAILY", "daily", "daily"),
];

/// The Python and TypeScript examples: `(constant, component, language, folder, world, entry)`.
const LANG_EXAMPLES: &[lang_build::LangGuest] = &[
    (
        "PY_COUNTER",
        "py-counter",
        Lang::Python,
        "examples/python/counter",
        "counter",
        "app",
    ),
    (
        "TS_COUNTER",
        "ts-counter",
        Lang::Ts,
        "examples/ts/counter",
        "counter",
        "counter.ts",
    ),
    (
        "PY_APPROVAL",
        "py-approval",
        Lang::Python,
        "examples/python/approval",
        "approval",
        "app",
    ),
    (
        "TS_APPROVAL",
        "ts-approval",
        Lang::Ts,
        "examples/ts/approval",
        "approval",
        "approval.ts",
    ),
    (
        "PY_CALLER",
        "py-caller",
        Lang::Python,
        "examples/python/caller",
        "caller",
        "app",
    ),
    (
        "TS_CALLER",
        "ts-caller",
        Lang::Ts,
        "examples/ts/caller",
        "caller",
        "caller.ts",
    ),
];

fn main() {
    // cli/examples-build sits two levels below the repository root.
    let root = wasm_build::repository_root(2);
    let mut out = wasm_build::build_and_list(&root, &root.join("examples"), EXAMPLES);
    out.push_str("\n/// The user-facing examples as `(component name, path)`.\n");
    out.push_str("pub fn all() -> &'static [(&'static str, &'static str)] {\n    &[\n");
    for (constant, component, _) in EXAMPLES {
        out.push_str(&format!("        ({component:?}, {constant}),\n"));
    }
    out.push_str("    ]\n}\n");
    out.push_str(&lang_build::build_and_list(&root, LANG_EXAMPLES));
    out.push_str("\n/// The Python and TypeScript examples as `(component name, path)`.\n");
    out.push_str("pub fn languages() -> &'static [(&'static str, &'static str)] {\n    &[\n");
    for (constant, component, ..) in LANG_EXAMPLES {
        out.push_str(&format!("        ({component:?}, {constant}),\n"));
    }
    out.push_str("    ]\n}\n");
    wasm_build::write_out("examples.rs", &out);
}
