//! `test-types` — a test guest whose functions echo every WIT value kind
//! (integers, floats, bool, char, string, records, variants, enums, flags,
//! options, results, lists, tuples), the fixture for the JSON/WAVE <-> WIT
//! conversion tests.
//!
//! Build (from `tests/guests/programs/`): `cargo build --target wasm32-wasip2 --release`,
//! producing `target/wasm32-wasip2/release/test_types.wasm` (the
//! `revenant-guests` crate exposes the path as `TEST_TYPES`).
//!
//! Call e.g. `nats request rvn.call.test-types.w1 -H 'Rvn-Function: echo-u8' '[7]'`
//! (answers `7`). Prints nothing. Exports `test:types/api.{echo-*, noop}`;
//! imports only WASI 0.2.

wit_bindgen::generate!({ path: "wit", world: "test-types" });

use exports::test::types::api::{Color, Everything, Guest, Permissions, Point, Shape};

struct TestTypes;

impl Guest for TestTypes {
    fn echo_bool(x: bool) -> bool {
        x
    }
    fn echo_u8(x: u8) -> u8 {
        x
    }
    fn echo_u16(x: u16) -> u16 {
        x
    }
    fn echo_u32(x: u32) -> u32 {
        x
    }
    fn echo_u64(x: u64) -> u64 {
        x
    }
    fn echo_s8(x: i8) -> i8 {
        x
    }
    fn echo_s16(x: i16) -> i16 {
        x
    }
    fn echo_s32(x: i32) -> i32 {
        x
    }
    fn echo_s64(x: i64) -> i64 {
        x
    }
    fn echo_f32(x: f32) -> f32 {
        x
    }
    fn echo_f64(x: f64) -> f64 {
        x
    }
    fn echo_char(x: char) -> char {
        x
    }
    fn echo_string(x: String) -> String {
        x
    }

    fn echo_record(x: Point) -> Point {
        x
    }
    fn echo_everything(x: Everything) -> Everything {
        x
    }
    fn echo_variant(x: Shape) -> Shape {
        x
    }
    fn echo_enum(x: Color) -> Color {
        x
    }
    fn echo_flags(x: Permissions) -> Permissions {
        x
    }

    fn echo_option(x: Option<String>) -> Option<String> {
        x
    }
    fn echo_nested_option(x: Option<Option<u32>>) -> Option<Option<u32>> {
        x
    }
    fn echo_result(x: Result<u32, String>) -> Result<u32, String> {
        x
    }
    fn echo_result_unit_ok(x: Result<(), String>) -> Result<(), String> {
        x
    }
    fn echo_result_unit_err(x: Result<String, ()>) -> Result<String, ()> {
        x
    }
    fn echo_result_empty(x: Result<(), ()>) -> Result<(), ()> {
        x
    }

    fn echo_list(x: Vec<u32>) -> Vec<u32> {
        x
    }
    fn echo_bytes(x: Vec<u8>) -> Vec<u8> {
        x
    }
    fn echo_list_records(x: Vec<Point>) -> Vec<Point> {
        x
    }
    fn echo_nested_list(x: Vec<Vec<String>>) -> Vec<Vec<String>> {
        x
    }
    fn echo_tuple(x: (u8, String, f64)) -> (u8, String, f64) {
        x
    }

    fn echo_many(
        a: bool,
        b: i64,
        c: String,
        d: Option<Color>,
        e: Vec<Shape>,
    ) -> (bool, i64, String, Option<Color>, Vec<Shape>) {
        (a, b, c, d, e)
    }

    fn noop() {}
}

export!(TestTypes);
