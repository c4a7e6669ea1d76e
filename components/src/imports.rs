//! What an executor provides to a component: the import allow-list checked at
//! upload, so that a binary no executor could link is refused before it gets a
//! version.
//!
//! The list mirrors the executor's linker (`executor/src/components.rs`
//! `build_linker`): WASI 0.2 as `wasmtime-wasi` and `wasmtime-wasi-http` add it
//! (any `0.2.x` version, which wasmtime links semver-compatibly), and every
//! interface of `revenant:api` (any version: the executor keeps serving older
//! ones). A change to the linker changes [`WASI_INTERFACES`] in the same commit.
//! This module only compares names; whether each imported function has the
//! types the host expects is checked by the executor's linker when it loads the
//! component.

/// WASI 0.2 interfaces (without version) the executor's linker provides.
pub const WASI_INTERFACES: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/ip-name-lookup",
    "wasi:http/types",
    "wasi:http/outgoing-handler",
];

/// The package prefix of Revenant's own host API.
const REVENANT_API: &str = "revenant:api/";

/// A typed RPC client import (ARCHITECTURE.md "Worker-to-worker RPC"):
/// `<ns>:<component>-client/<iface>[@version]` calls the component named
/// `<component>`, through its exported interface `<ns>:<any package>/<iface>`
/// (`revenant component client-wit <component>` writes the client's WIT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientImport {
    /// The component it calls.
    pub component: String,
    /// The namespace of the callee's interface (`example`).
    pub namespace: String,
    /// The callee's interface name (`api`).
    pub interface: String,
}

impl ClientImport {
    /// Whether `export` (an exported interface, `example:payment/api@0.1.0`) is the one
    /// this client calls.
    pub fn calls(&self, export: &str) -> bool {
        let unversioned = export.split_once('@').map_or(export, |(e, _)| e);
        unversioned
            .split_once(':')
            .and_then(|(ns, rest)| Some((ns, rest.split_once('/')?.1)))
            .is_some_and(|(ns, iface)| ns == self.namespace && iface == self.interface)
    }
}

/// The client an import is, if it is one.
pub fn client_import(name: &str) -> Option<ClientImport> {
    let unversioned = name.split_once('@').map_or(name, |(n, _)| n);
    let (package, iface) = unversioned.split_once('/')?;
    let (namespace, pkg) = package.split_once(':')?;
    let component = pkg.strip_suffix("-client")?;
    let token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    (token(namespace) && token(component) && token(iface)).then(|| ClientImport {
        component: component.to_owned(),
        namespace: namespace.to_owned(),
        interface: iface.to_owned(),
    })
}

/// `wasi:logging` as the executor serves it (log lines become `log` events).
pub const WASI_LOGGING: &str = "wasi:logging/logging@0.1.0-draft";

/// Whether executors provide the import `name`, as the component spells it
/// (`wasi:cli/environment@0.2.3`, `revenant:api/durability@0.1.0`).
/// World-level function imports (a bare `log`) are never provided.
pub fn provided_import(name: &str) -> bool {
    if let Some(iface) = name.strip_prefix(REVENANT_API) {
        return !iface.is_empty();
    }
    if client_import(name).is_some() || name == WASI_LOGGING {
        return true;
    }
    match name.split_once('@') {
        Some((iface, version)) => version.starts_with("0.2.") && WASI_INTERFACES.contains(&iface),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_0_2_interfaces_the_linker_adds_are_provided_at_any_patch_version() {
        assert!(provided_import("wasi:cli/environment@0.2.3"));
        assert!(provided_import("wasi:io/streams@0.2.0"));
        assert!(provided_import("wasi:http/outgoing-handler@0.2.9"));
        assert!(provided_import("wasi:sockets/tcp@0.2.6"));
    }

    #[test]
    fn other_wasi_versions_and_unknown_wasi_interfaces_are_not_provided() {
        assert!(!provided_import("wasi:cli/environment"), "no version");
        assert!(!provided_import("wasi:cli/environment@0.3.0"));
        assert!(!provided_import("wasi:cli/environment@1.0.0"));
        assert!(!provided_import("wasi:keyvalue/store@0.2.0-draft"));
        assert!(provided_import("wasi:logging/logging@0.1.0-draft"));
        assert!(!provided_import("wasi:logging/logging@0.2.0"));
        assert!(!provided_import("wasi:http/incoming-handler@0.2.3"));
        assert!(
            !provided_import("wasi:cli/run@0.2.3"),
            "an export, not an import"
        );
    }

    #[test]
    fn revenant_api_interfaces_are_provided_and_nothing_else() {
        assert!(provided_import("revenant:api/durability@0.1.0"));
        assert!(provided_import("revenant:api/durability"));
        assert!(!provided_import("revenant:api/"));
        assert!(!provided_import("revenant:other/durability@0.1.0"));
        assert!(!provided_import("example:types/api@0.1.0"));
        assert!(!provided_import("log"));
    }

    #[test]
    fn a_client_import_names_the_component_and_interface_it_calls() {
        let client = client_import("example:payment-client/api@0.1.0").unwrap();
        assert_eq!(
            client,
            ClientImport {
                component: "payment".into(),
                namespace: "example".into(),
                interface: "api".into(),
            }
        );
        assert!(client.calls("example:payment/api@0.1.0"));
        assert!(
            client.calls("example:payments-v2/api"),
            "any package of the namespace"
        );
        assert!(!client.calls("other:payment/api"));
        assert!(!client.calls("example:payment/admin"));
        assert!(provided_import("example:payment-client/api"));
        assert_eq!(client_import("example:payment/api"), None);
        assert_eq!(client_import("example:-client/api"), None);
        assert_eq!(client_import("example:pay.ment-client/api"), None);
    }
}
