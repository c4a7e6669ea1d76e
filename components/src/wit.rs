//! The component's WIT, decoded once (`wit-component` into a
//! `wit_parser::Resolve`), and what Revenant reads from it: every callable
//! export with its WIT signature and parameter shapes, and the world's imports.
//!
//! Named types keep their WIT names (`list<product-item>`, not a structural
//! expansion). Resource constructors, methods and static functions are not
//! listed: they cannot be invoked with JSON/WAVE arguments.

use revenant_types::records::{ExportedFunction, WitShape};
use wit_parser::{FunctionKind, Handle, Resolve, Type, TypeDefKind, WorldId, WorldItem};

/// A component's decoded WIT world.
pub(crate) struct Wit {
    pub(crate) resolve: Resolve,
    pub(crate) world: WorldId,
}

impl Wit {
    /// Decodes the WIT of a validated component; `Err` is the decoder's message
    /// (or `None` when the bytes are a WIT package rather than a component).
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, Option<String>> {
        match wit_component::decode(bytes) {
            Ok(wit_component::DecodedWasm::Component(resolve, world)) => {
                Ok(Self { resolve, world })
            }
            Ok(wit_component::DecodedWasm::WitPackage(..)) => Err(None),
            Err(e) => Err(Some(format!("{e:#}"))),
        }
    }

    /// The names of every imported interface and world-level function, as the
    /// component spells them (`wasi:cli/environment@0.2.3`, `log`). Type imports
    /// are not listed.
    pub(crate) fn imports(&self) -> impl Iterator<Item = String> + '_ {
        self.resolve.worlds[self.world]
            .imports
            .iter()
            .filter(|(_, item)| !matches!(item, WorldItem::Type { .. }))
            .map(|(key, _)| self.resolve.name_world_key(key))
    }

    /// Every callable function the component exports, in export order.
    pub(crate) fn exports(&self) -> Vec<ExportedFunction> {
        let resolve = &self.resolve;
        let mut out = Vec::new();
        for (key, item) in &resolve.worlds[self.world].exports {
            match item {
                WorldItem::Function(f) if is_callable(&f.kind) => {
                    out.push(describe(resolve, f.name.clone(), f));
                }
                WorldItem::Interface { id, .. } => {
                    let iface = resolve.name_world_key(key);
                    for f in resolve.interfaces[*id].functions.values() {
                        if is_callable(&f.kind) {
                            out.push(describe(resolve, format!("{iface}.{{{}}}", f.name), f));
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }
}

fn is_callable(kind: &FunctionKind) -> bool {
    matches!(
        kind,
        FunctionKind::Freestanding | FunctionKind::AsyncFreestanding
    )
}

fn describe(resolve: &Resolve, name: String, f: &wit_parser::Function) -> ExportedFunction {
    ExportedFunction {
        name,
        params: f
            .params
            .iter()
            .map(|p| (p.name.clone(), wit_type(resolve, &p.ty)))
            .collect(),
        result: f.result.as_ref().map(|t| wit_type(resolve, t)),
        shapes: f.params.iter().map(|p| shape(resolve, &p.ty)).collect(),
    }
}

/// WIT text of a type: its name when it has one, WIT syntax otherwise.
fn wit_type(resolve: &Resolve, ty: &Type) -> String {
    let id = match ty {
        Type::Bool => return "bool".into(),
        Type::U8 => return "u8".into(),
        Type::U16 => return "u16".into(),
        Type::U32 => return "u32".into(),
        Type::U64 => return "u64".into(),
        Type::S8 => return "s8".into(),
        Type::S16 => return "s16".into(),
        Type::S32 => return "s32".into(),
        Type::S64 => return "s64".into(),
        Type::F32 => return "f32".into(),
        Type::F64 => return "f64".into(),
        Type::Char => return "char".into(),
        Type::String => return "string".into(),
        Type::ErrorContext => return "error-context".into(),
        Type::Id(id) => *id,
    };
    let def = &resolve.types[id];
    if let Some(name) = &def.name {
        return name.clone();
    }
    let t = |ty: &Type| wit_type(resolve, ty);
    let opt = |ty: &Option<Type>| ty.as_ref().map_or_else(|| "_".to_owned(), t);
    let resource = |id: &wit_parser::TypeId| {
        resolve.types[*id]
            .name
            .clone()
            .unwrap_or_else(|| "resource".to_owned())
    };
    match &def.kind {
        TypeDefKind::List(ty) => format!("list<{}>", t(ty)),
        TypeDefKind::FixedLengthList(ty, n) => format!("list<{}, {n}>", t(ty)),
        TypeDefKind::Map(k, v) => format!("map<{}, {}>", t(k), t(v)),
        TypeDefKind::Option(ty) => format!("option<{}>", t(ty)),
        TypeDefKind::Result(r) => match (&r.ok, &r.err) {
            (None, None) => "result".to_owned(),
            (Some(ok), None) => format!("result<{}>", t(ok)),
            (ok, Some(err)) => format!("result<{}, {}>", opt(ok), t(err)),
        },
        TypeDefKind::Tuple(tuple) => {
            format!(
                "tuple<{}>",
                tuple.types.iter().map(t).collect::<Vec<_>>().join(", ")
            )
        }
        TypeDefKind::Handle(Handle::Own(r)) => resource(r),
        TypeDefKind::Handle(Handle::Borrow(r)) => format!("borrow<{}>", resource(r)),
        TypeDefKind::Future(ty) => ty
            .as_ref()
            .map_or("future".to_owned(), |ty| format!("future<{}>", t(ty))),
        TypeDefKind::Stream(ty) => ty
            .as_ref()
            .map_or("stream".to_owned(), |ty| format!("stream<{}>", t(ty))),
        TypeDefKind::Type(ty) => t(ty),
        // Anonymous records, variants, enums, flags and resources do not occur in valid WIT.
        other => other.as_str().to_owned(),
    }
}

/// The structure of a type, as far as JSON arguments care.
fn shape(resolve: &Resolve, ty: &Type) -> WitShape {
    match ty {
        Type::Bool => WitShape::Bool,
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => WitShape::Integer,
        Type::S8 | Type::S16 | Type::S32 | Type::S64 => WitShape::Integer,
        Type::F32 | Type::F64 => WitShape::Float,
        Type::Char => WitShape::Char,
        Type::String => WitShape::String,
        Type::ErrorContext => WitShape::Other("error-context".into()),
        Type::Id(id) => {
            let def = &resolve.types[*id];
            match &def.kind {
                TypeDefKind::Type(t) => shape(resolve, t),
                TypeDefKind::Record(r) => WitShape::Record(
                    r.fields
                        .iter()
                        .map(|f| (f.name.clone(), shape(resolve, &f.ty)))
                        .collect(),
                ),
                TypeDefKind::Option(t) => WitShape::Option(Box::new(shape(resolve, t))),
                TypeDefKind::List(t) => WitShape::List(Box::new(shape(resolve, t))),
                _ => WitShape::Other(wit_type(resolve, ty)),
            }
        }
    }
}
