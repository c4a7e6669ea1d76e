//! Test components built from WIT text (feature `fixtures`, and this crate's
//! own tests): `wit-component`'s dummy core module (functions that trap) plus
//! the world's metadata, encoded as a real component binary — so the WIT names
//! survive and wasmtime can compile it. Nothing here is ever instantiated.
//! The guests of `examples/` (`revenant-guests`) are the real-world counterpart.

use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::{LiftLowerAbi, ManglingAndAbi, Resolve};

/// A world exporting every type family, an interface with a version, and
/// world-level functions (one sharing a name with an interface function).
pub const TYPES_WIT: &str = r#"
package example:types@0.1.0;

interface api {
    record product-item { product-id: string, name: string, price: f32, quantity: u32 }
    record all-ints { a: s8, b: u8, c: s16, d: u16, e: s32, f: u32, g: s64, h: u64 }
    record opt-fields { required: string, maybe: option<u32> }
    variant shape { circle(f64), rect(tuple<u32, u32>), empty }
    enum color { red, green, blue }
    flags perms { read, write, exec }
    type item-list = list<product-item>;
    resource counter {
        constructor();
        get: func() -> u64;
    }

    add: func(value: u64) -> u64;
    add-item: func(item: product-item) -> result<_, string>;
    items: func() -> item-list;
    ints: func(v: all-ints) -> all-ints;
    floats: func(a: f32, b: f64) -> tuple<f32, f64>;
    text: func(c: char, s: string) -> string;
    shapes: func(s: shape, c: color, p: perms) -> option<shape>;
    nested: func(o: option<option<u32>>, r: result<u32, string>, r2: result) -> list<tuple<bool, option<string>>>;
    opts: func(o: opt-fields, extra: option<string>);
    bytes: func(b: list<u8>) -> list<u8>;
    peek: func(c: borrow<counter>) -> u64;
    make: func() -> counter;
    noop: func();
}

world guest {
    export api;
    export hello: func(name: string) -> string;
    export add: func(a: u32, b: u32) -> u32;
}

world importer {
    import wasi:cli/environment@0.2.3;
    import api;
    import log: func(msg: string);
    export hello: func(name: string) -> string;
}

/// Imports a WASI 0.2 interface by a provided name, but with a function
/// wasmtime's `wasi:cli/environment` does not have: upload's name check passes
/// it, the executor's linker refuses it.
world unlinkable {
    import wasi:cli/environment@0.2.3;
    export hello: func(name: string) -> string;
}

package wasi:cli@0.2.3 {
    interface environment {
        get-environment: func() -> list<tuple<string, string>>;
        not-in-wasmtime: func();
    }
}
"#;

/// The component binary of `world` (`guest`, `importer` or `unlinkable`) in [`TYPES_WIT`].
pub fn component_bytes(world: &str) -> Vec<u8> {
    component_of(TYPES_WIT, world)
}

/// The component binary of `world` in the WIT text `wit` (one package, no dependencies).
pub fn component_of(wit: &str, world: &str) -> Vec<u8> {
    let mut resolve = Resolve::default();
    let pkg = resolve.push_str("test.wit", wit).expect("test WIT parses");
    let world = resolve
        .select_world(&[pkg], Some(world))
        .expect("world exists");
    let mut module =
        wit_component::dummy_module(&resolve, world, ManglingAndAbi::Legacy(LiftLowerAbi::Sync));
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .expect("metadata embeds");
    ComponentEncoder::default()
        .module(&module)
        .expect("module accepted")
        .validate(true)
        .encode()
        .expect("component encodes")
}
