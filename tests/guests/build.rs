//! Builds the test guests in `tests/guests/programs/` for wasm32-wasip2 (release)
//! with a nested cargo, and writes `$OUT_DIR/guests.rs` with the path of each
//! component. The build itself is `revenant-examples`' (the examples' build
//! step), shared by `#[path]`.

#[path = "../../cli/examples-build/wasm_build.rs"]
mod wasm_build;

/// `(constant name, component name, cdylib file stem)` for every test guest.
const GUESTS: &[wasm_build::Guest] = &[
    ("TEST_HTTP", "test-http", "test_http"),
    ("TEST_FAULTS", "test-faults", "test_faults"),
    ("TEST_TYPES", "test-types", "test_types"),
    ("TEST_DURABILITY", "test-durability", "test_durability"),
];

fn main() {
    // tests/guests sits two levels below the repository root.
    let root = wasm_build::repository_root(2);
    let programs = root.join("tests").join("guests").join("programs");
    let out = wasm_build::build_and_list(&root, &programs, GUESTS);
    wasm_build::write_out("guests.rs", &out);
}
