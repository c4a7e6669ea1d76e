//! `revenant.yaml`, the project manifest `revenant deploy` reads (after Golem's
//! application manifest): the components a project builds, how each is built,
//! the HTTP routes that map requests to their workers, and scheduled
//! invocations. Parsing and checking are pure; `deploy` performs them.
//!
//! ```yaml
//! name: shop                      # the name of the routes' API (default: the folder's)
//! components:
//!   cart:
//!     lang: python                # rust | python | ts (what `revenant new` wrote)
//!     build: componentize-py -d wit -w cart componentize app -p . -p "$REVENANT_SDK/python" -o cart.wasm
//!     wasm: cart.wasm             # relative to the manifest's folder
//! routes:                         # the router's route format (see router/src/gateway/definition.rs)
//!   - { method: GET, path: "/carts/{user}", component: cart, worker: "cart-{user}", function: get, args: {} }
//! schedules:
//!   - { worker: cart/nightly, function: compact, args: [], cron: "0 0 3 * * *", tz: Europe/Paris, name: compact }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use revenant_router::gateway::definition::{ApiDefinition, RouteDef};
use revenant_types::schedule::ScheduleRequest;
use revenant_types::{ComponentName, WorkerId};
use serde::Deserialize;

/// The file name `revenant deploy` looks for.
pub const FILE: &str = "revenant.yaml";

/// A whole manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Manifest {
    /// The API name of `routes` (default: the manifest folder's name).
    #[serde(default)]
    pub name: Option<String>,
    /// By component name.
    pub components: BTreeMap<String, ComponentDef>,
    #[serde(default)]
    pub routes: Vec<RouteDef>,
    #[serde(default)]
    pub schedules: Vec<ScheduleDef>,
}

/// A guest's language: what `revenant new` scaffolds and the tools its build needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Lang {
    Rust,
    Python,
    Ts,
}

/// One component of the project.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ComponentDef {
    pub lang: Lang,
    /// A shell command run in the manifest's folder that writes `wasm` (none: `wasm` exists).
    #[serde(default)]
    pub build: Option<String>,
    /// The built component, relative to the manifest's folder.
    pub wasm: PathBuf,
}

/// A scheduled invocation: the worker and function, and when (the fields of
/// `revenant invoke --at | --in | --cron`: `at`, `in`, `cron`, `tz`, `name`, …).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ScheduleDef {
    /// `<component>/<worker>`.
    pub worker: String,
    pub function: String,
    /// The arguments as JSON values.
    #[serde(default)]
    pub args: Vec<serde_json::Value>,
    #[serde(flatten)]
    pub when: ScheduleRequest,
}

/// Parses and checks a manifest: component names are valid, every route and
/// schedule names a component of the project (or says which ones there are).
pub fn parse(text: &str, folder_name: &str) -> Result<(Manifest, Option<ApiDefinition>), String> {
    let manifest: Manifest =
        serde_yaml::from_str(text).map_err(|e| format!("{FILE} is not a valid manifest: {e}"))?;
    if manifest.components.is_empty() {
        return Err(format!(
            "{FILE} lists no components; add one under `components:`"
        ));
    }
    let known = || {
        manifest
            .components
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    for name in manifest.components.keys() {
        ComponentName::new(name).map_err(|e| format!("{FILE}: component {name:?}: {e}"))?;
    }
    for (i, r) in manifest.routes.iter().enumerate() {
        if !manifest.components.contains_key(&r.component) {
            return Err(format!(
                "{FILE}: route {i} ({} {}) targets component {:?}, which is not in `components:` ({})",
                r.method,
                r.path,
                r.component,
                known()
            ));
        }
    }
    for (i, s) in manifest.schedules.iter().enumerate() {
        let w = WorkerId::parse_path(&s.worker).map_err(|e| {
            format!(
                "{FILE}: schedule {i}: worker {:?} is not <component>/<worker>: {e}",
                s.worker
            )
        })?;
        if !manifest.components.contains_key(w.component.as_str()) {
            return Err(format!(
                "{FILE}: schedule {i} targets component {}, which is not in `components:` ({})",
                w.component,
                known()
            ));
        }
        if !s.when.is_scheduled() {
            return Err(format!(
                "{FILE}: schedule {i} ({}) says not when: give one of at, in, cron",
                s.worker
            ));
        }
    }
    let api = (!manifest.routes.is_empty()).then(|| ApiDefinition {
        name: manifest
            .name
            .clone()
            .unwrap_or_else(|| folder_name.to_owned()),
        routes: manifest.routes.clone(),
    });
    Ok((manifest, api))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &str = r#"
name: shop
components:
  cart:
    lang: python
    build: componentize-py -d wit -w cart componentize app -o cart.wasm
    wasm: cart.wasm
routes:
  - { method: GET, path: "/carts/{user}", component: cart, worker: "cart-{user}", function: get, args: {} }
schedules:
  - { worker: cart/nightly, function: compact, cron: "@daily", name: compact }
"#;

    #[test]
    fn a_manifest_lists_components_routes_and_schedules() {
        let (m, api) = parse(SHOP, "folder").unwrap();
        assert_eq!(m.components["cart"].lang, Lang::Python);
        assert_eq!(m.components["cart"].wasm, PathBuf::from("cart.wasm"));
        assert_eq!(m.schedules[0].when.cron.as_deref(), Some("@daily"));
        let api = api.expect("routes make an API");
        assert_eq!(api.name, "shop");
        assert_eq!(api.routes[0].function, "get");
    }

    #[test]
    fn the_api_is_named_after_the_folder_by_default() {
        let text = "components:\n  c:\n    lang: rust\n    wasm: c.wasm\nroutes:\n  - { method: GET, path: /x, component: c, worker: w, function: f, args: {} }\n";
        assert_eq!(parse(text, "my-app").unwrap().1.unwrap().name, "my-app");
    }

    #[test]
    fn a_route_to_an_unknown_component_names_the_known_ones() {
        let text = SHOP.replace("component: cart,", "component: kart,");
        let err = parse(&text, "f").unwrap_err();
        assert!(err.contains("\"kart\"") && err.contains("(cart)"), "{err}");
    }

    #[test]
    fn a_schedule_without_a_time_is_refused() {
        let text = SHOP.replace("cron: \"@daily\", ", "");
        assert!(
            parse(&text, "f")
                .unwrap_err()
                .contains("give one of at, in, cron")
        );
    }

    #[test]
    fn unknown_keys_and_languages_are_refused() {
        assert!(
            parse("components: {}\nextra: 1\n", "f")
                .unwrap_err()
                .contains("extra")
        );
        let err = parse("components:\n  c: { lang: cobol, wasm: c.wasm }\n", "f").unwrap_err();
        assert!(err.contains("cobol"), "{err}");
        assert!(
            parse("components: {}\n", "f")
                .unwrap_err()
                .contains("no components")
        );
    }
}
