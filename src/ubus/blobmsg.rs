//! blobmsg (libubox `blobmsg.h`): JSON-like typed values carried in ubus DATA and
//! SIGNATURE attributes, with parse/emit and the blobmsg_json conversion to/from
//! `serde_json::Value` (how `ubus call` prints and accepts JSON).
//!
//! Pure: no I/O. A blobmsg attribute is a blob with EXTENDED set and id = the type; its
//! payload is `u16 namelen | name | NUL | pad to 4 | value`.

use super::blob::{self, pad4, BlobAttr, BlobIter, WireError};
use serde_json::Value as Json;

/// How deeply arrays and tables may nest (json-c's default, which `ubus call` uses).
pub const MAX_DEPTH: usize = 32;

/// blobmsg type ids (`BLOBMSG_TYPE_*`), as used in values and in method signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobmsgType {
    /// 0: no value (JSON null).
    Unspec,
    /// 1: array.
    Array,
    /// 2: table (JSON object).
    Table,
    /// 3: NUL-terminated string.
    String,
    /// 4: 64-bit integer.
    Int64,
    /// 5: 32-bit integer.
    Int32,
    /// 6: 16-bit integer.
    Int16,
    /// 7: 8-bit integer, printed as a bool.
    Int8,
    /// 8: IEEE-754 double.
    Double,
    /// Any other id, kept as is.
    Unknown(u8),
}

impl BlobmsgType {
    /// The type for a wire id.
    pub fn from_id(id: u8) -> Self {
        use BlobmsgType::*;
        match id {
            0 => Unspec,
            1 => Array,
            2 => Table,
            3 => String,
            4 => Int64,
            5 => Int32,
            6 => Int16,
            7 => Int8,
            8 => Double,
            n => Unknown(n),
        }
    }

    /// The wire id.
    pub fn id(self) -> u8 {
        use BlobmsgType::*;
        match self {
            Unspec => 0,
            Array => 1,
            Table => 2,
            String => 3,
            Int64 => 4,
            Int32 => 5,
            Int16 => 6,
            Int8 => 7,
            Double => 8,
            Unknown(n) => n,
        }
    }
}

/// The members of a blobmsg table (a JSON object), in wire order.
pub type Table = Vec<(String, BlobmsgValue)>;

/// An owned blobmsg value.
#[derive(Clone, Debug, PartialEq)]
pub enum BlobmsgValue {
    /// No value.
    Unspec,
    /// Array elements (names are dropped; emitted with an empty name, as libubox does).
    Array(Vec<BlobmsgValue>),
    /// Named members.
    Table(Table),
    /// A string (invalid UTF-8 is replaced, as it cannot be carried in JSON anyway).
    String(String),
    /// INT64.
    Int64(i64),
    /// INT32 (u32 ids travel as INT32 too: `as i32`).
    Int32(i32),
    /// INT16.
    Int16(i16),
    /// INT8, used as a bool.
    Int8(u8),
    /// DOUBLE.
    Double(f64),
    /// A type this code does not know, with its raw value bytes.
    Unknown {
        /// The type id.
        id: u8,
        /// The value bytes.
        data: Vec<u8>,
    },
}

/// Splits a blobmsg attribute payload into (name, value bytes).
fn split_name(payload: &[u8]) -> Result<(&[u8], &[u8]), WireError> {
    if payload.len() < 2 {
        return Err(WireError("blobmsg name header truncated"));
    }
    let namelen = usize::from(u16::from_be_bytes([payload[0], payload[1]]));
    let hdrlen = pad4(2 + namelen + 1);
    if payload.len() < hdrlen {
        return Err(WireError("blobmsg name beyond attribute"));
    }
    if payload[2 + namelen] != 0 {
        return Err(WireError("blobmsg name not NUL-terminated"));
    }
    Ok((&payload[2..2 + namelen], &payload[hdrlen..]))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn exact<const N: usize>(data: &[u8]) -> Result<[u8; N], WireError> {
    data.try_into()
        .map_err(|_| WireError("blobmsg integer of wrong length"))
}

impl BlobmsgValue {
    /// The blobmsg type of this value.
    pub fn kind(&self) -> BlobmsgType {
        use BlobmsgValue as V;
        match self {
            V::Unspec => BlobmsgType::Unspec,
            V::Array(_) => BlobmsgType::Array,
            V::Table(_) => BlobmsgType::Table,
            V::String(_) => BlobmsgType::String,
            V::Int64(_) => BlobmsgType::Int64,
            V::Int32(_) => BlobmsgType::Int32,
            V::Int16(_) => BlobmsgType::Int16,
            V::Int8(_) => BlobmsgType::Int8,
            V::Double(_) => BlobmsgType::Double,
            V::Unknown { id, .. } => BlobmsgType::Unknown(*id),
        }
    }

    /// Decodes a value of type `id` from its bytes; `depth` counts enclosing containers.
    fn parse_value(id: u8, data: &[u8], depth: usize) -> Result<Self, WireError> {
        use BlobmsgValue as V;
        Ok(match BlobmsgType::from_id(id) {
            BlobmsgType::Unspec => V::Unspec,
            BlobmsgType::Array | BlobmsgType::Table if depth >= MAX_DEPTH => {
                return Err(WireError("blobmsg nested too deeply"))
            }
            BlobmsgType::Array => V::Array(parse_array_at(data, depth + 1)?),
            BlobmsgType::Table => V::Table(parse_table_at(data, depth + 1)?),
            BlobmsgType::String => match data.split_last() {
                Some((0, s)) => V::String(text(s)),
                _ => return Err(WireError("blobmsg string not NUL-terminated")),
            },
            BlobmsgType::Int64 => V::Int64(i64::from_be_bytes(exact(data)?)),
            BlobmsgType::Int32 => V::Int32(i32::from_be_bytes(exact(data)?)),
            BlobmsgType::Int16 => V::Int16(i16::from_be_bytes(exact(data)?)),
            BlobmsgType::Int8 => V::Int8(exact::<1>(data)?[0]),
            BlobmsgType::Double => V::Double(f64::from_bits(u64::from_be_bytes(exact(data)?))),
            BlobmsgType::Unknown(id) => V::Unknown {
                id,
                data: data.to_vec(),
            },
        })
    }

    /// Decodes one EXTENDED blobmsg attribute into (name, value).
    ///
    /// # Errors
    /// Not EXTENDED, a bad name header, a value of the wrong length, or nesting too deep.
    pub fn parse_attr(attr: &BlobAttr<&[u8]>) -> Result<(String, Self), WireError> {
        parse_attr_at(attr, 0)
    }

    /// Appends this value as a blobmsg attribute called `name`.
    pub fn emit(&self, name: &str, out: &mut Vec<u8>) {
        use BlobmsgValue as V;
        let start = blob::begin(out);
        let name = name.as_bytes();
        // Names are at most u16::MAX bytes on the wire; longer ones are cut (never sent by us).
        let name = &name[..name.len().min(usize::from(u16::MAX))];
        out.extend_from_slice(&(name.len() as u16).to_be_bytes());
        out.extend_from_slice(name);
        out.push(0);
        out.resize(start + blob::HDR_LEN + pad4(2 + name.len() + 1), 0);
        match self {
            V::Unspec => {}
            V::Array(items) => items.iter().for_each(|v| v.emit("", out)),
            V::Table(t) => emit_table(t, out),
            V::String(s) => {
                out.extend_from_slice(s.as_bytes());
                out.push(0);
            }
            V::Int64(v) => out.extend_from_slice(&v.to_be_bytes()),
            V::Int32(v) => out.extend_from_slice(&v.to_be_bytes()),
            V::Int16(v) => out.extend_from_slice(&v.to_be_bytes()),
            V::Int8(v) => out.push(*v),
            V::Double(v) => out.extend_from_slice(&v.to_bits().to_be_bytes()),
            V::Unknown { data, .. } => out.extend_from_slice(data),
        }
        blob::finish(out, start, self.kind().id(), true);
    }

    /// Converts to JSON as blobmsg_json prints it (INT8 as a bool, unknown types as null).
    pub fn to_json(&self) -> Json {
        use BlobmsgValue as V;
        match self {
            V::Unspec | V::Unknown { .. } => Json::Null,
            V::Array(items) => Json::Array(items.iter().map(Self::to_json).collect()),
            V::Table(t) => table_to_json(t),
            V::String(s) => Json::String(s.clone()),
            V::Int64(v) => Json::from(*v),
            V::Int32(v) => Json::from(*v),
            V::Int16(v) => Json::from(*v),
            V::Int8(v) => Json::Bool(*v != 0),
            V::Double(v) => serde_json::Number::from_f64(*v).map_or(Json::Null, Json::Number),
        }
    }

    /// Converts from JSON as blobmsg_json does: integers become INT32 when they fit, else
    /// INT64 (saturated); bools INT8; other numbers DOUBLE; null UNSPEC. Object members come
    /// out in serde_json's (sorted) order; ubus peers look members up by name.
    pub fn from_json(v: &Json) -> Self {
        use BlobmsgValue as V;
        match v {
            Json::Null => V::Unspec,
            Json::Bool(b) => V::Int8(u8::from(*b)),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    i32::try_from(i).map_or(V::Int64(i), V::Int32)
                } else if n.as_u64().is_some() {
                    V::Int64(i64::MAX)
                } else {
                    V::Double(n.as_f64().unwrap_or(0.0))
                }
            }
            Json::String(s) => V::String(s.clone()),
            Json::Array(a) => V::Array(a.iter().map(Self::from_json).collect()),
            Json::Object(o) => V::Table(
                o.iter()
                    .map(|(k, v)| (k.clone(), Self::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// The string, when this is a STRING.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            BlobmsgValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, when this is an INT8/16/32/64 (INT32 read as stored: `u32` ids come back
    /// with `as u32`).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            BlobmsgValue::Int64(v) => Some(v),
            BlobmsgValue::Int32(v) => Some(v.into()),
            BlobmsgValue::Int16(v) => Some(v.into()),
            BlobmsgValue::Int8(v) => Some(v.into()),
            _ => None,
        }
    }
}

fn parse_attr_at(
    attr: &BlobAttr<&[u8]>,
    depth: usize,
) -> Result<(String, BlobmsgValue), WireError> {
    if !attr.is_extended() {
        return Err(WireError("blobmsg attribute without EXTENDED flag"));
    }
    let (name, data) = split_name(attr.payload())?;
    Ok((
        text(name),
        BlobmsgValue::parse_value(attr.id(), data, depth)?,
    ))
}

fn parse_table_at(body: &[u8], depth: usize) -> Result<Table, WireError> {
    let mut t = Table::new();
    for a in BlobIter::new(body) {
        let a = a?;
        // blobmsg_parse skips plain blob attributes inside tables.
        if a.is_extended() {
            t.push(parse_attr_at(&a, depth)?);
        }
    }
    Ok(t)
}

fn parse_array_at(body: &[u8], depth: usize) -> Result<Vec<BlobmsgValue>, WireError> {
    let mut items = Vec::new();
    for a in BlobIter::new(body) {
        let a = a?;
        // Arrays may hold either form; a plain attribute's payload is the bare value.
        items.push(if a.is_extended() {
            parse_attr_at(&a, depth)?.1
        } else {
            BlobmsgValue::parse_value(a.id(), a.payload(), depth)?
        });
    }
    Ok(items)
}

/// Decodes a run of named blobmsg attributes (a table body, e.g. a ubus DATA attribute).
///
/// # Errors
/// Any malformed attribute, or nesting deeper than [`MAX_DEPTH`].
pub fn parse_table(body: &[u8]) -> Result<Table, WireError> {
    parse_table_at(body, 0)
}

/// Appends a table body (its members, no header of its own).
pub fn emit_table(t: &Table, out: &mut Vec<u8>) {
    for (k, v) in t {
        v.emit(k, out);
    }
}

/// Converts a table to a JSON object (a later duplicate name wins, as in json-c).
pub fn table_to_json(t: &Table) -> Json {
    Json::Object(t.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// Converts a JSON object (or null, meaning empty) to a table.
///
/// # Errors
/// Any other JSON value: a ubus request or reply body must be an object.
pub fn table_from_json(v: &Json) -> Result<Table, WireError> {
    match BlobmsgValue::from_json(v) {
        BlobmsgValue::Table(t) => Ok(t),
        BlobmsgValue::Unspec => Ok(Table::new()),
        _ => Err(WireError("ubus message body is not a JSON object")),
    }
}

/// Puts the members named in `order` first, in that order, at every depth of `t`; the
/// others keep their relative order after them.
pub fn order_table(t: &mut Table, order: &[&str]) {
    if order.is_empty() {
        return;
    }
    // Moved by hand rather than sorted: a stable sort of this element type costs ~15 KB of
    // router binary.
    let mut rest = std::mem::take(t);
    for name in order {
        if let Some(i) = rest.iter().position(|(k, _)| k == name) {
            t.push(rest.remove(i));
        }
    }
    t.append(&mut rest);
    for (_, v) in t.iter_mut() {
        order_value(v, order);
    }
}

fn order_value(v: &mut BlobmsgValue, order: &[&str]) {
    match v {
        BlobmsgValue::Table(t) => order_table(t, order),
        BlobmsgValue::Array(a) => a.iter_mut().for_each(|v| order_value(v, order)),
        _ => {}
    }
}

/// The value of member `name` in a table.
pub fn get<'a>(t: &'a Table, name: &str) -> Option<&'a BlobmsgValue> {
    t.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn order_table_puts_named_members_first_at_every_depth() {
        let v = serde_json::json!({"b": 1, "a": {"z": 1, "y": [{"q": 1, "p": 2}]}, "c": 3});
        let mut t = table_from_json(&v).unwrap();
        order_table(&mut t, &["c", "b", "y", "q"]);
        let keys: Vec<&str> = t.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["c", "b", "a"]);
        let Some(BlobmsgValue::Table(a)) = get(&t, "a") else {
            panic!("{t:?}")
        };
        assert_eq!(a[0].0, "y");
        let BlobmsgValue::Array(items) = &a[0].1 else {
            panic!("{a:?}")
        };
        let BlobmsgValue::Table(inner) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(inner[0].0, "q");
        // No order: untouched.
        let mut u = table_from_json(&v).unwrap();
        order_table(&mut u, &[]);
        assert_eq!(u, table_from_json(&v).unwrap());
    }

    use super::*;
    use serde_json::json;

    /// `"id":"test.event"` then `"data":{"a":1,"b":"x"}` (README V4's DATA body).
    const EVENT_BODY: &str = "830000170002696400000000746573742e6576656e7400008200002400046461746100008500000c00016100000000018300000a0001620078000000";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn test_parse() {
        let t = parse_table(&unhex(EVENT_BODY)).unwrap();
        assert_eq!(
            t,
            vec![
                ("id".into(), BlobmsgValue::String("test.event".into())),
                (
                    "data".into(),
                    BlobmsgValue::Table(vec![
                        ("a".into(), BlobmsgValue::Int32(1)),
                        ("b".into(), BlobmsgValue::String("x".into())),
                    ])
                ),
            ]
        );
        assert_eq!(
            table_to_json(&t),
            json!({"id":"test.event","data":{"a":1,"b":"x"}})
        );
    }

    #[test]
    fn test_emit() {
        let data = table_from_json(&json!({"a":1,"b":"x"})).unwrap();
        let t = vec![
            ("id".into(), BlobmsgValue::String("test.event".into())),
            ("data".into(), BlobmsgValue::Table(data)),
        ];
        let mut out = Vec::new();
        emit_table(&t, &mut out);
        assert_eq!(out, unhex(EVENT_BODY));
    }

    #[test]
    fn json_typing_follows_blobmsg_json() {
        let v = BlobmsgValue::from_json(&json!([1, 3000000000u64, true, 1.5, null, -5]));
        assert_eq!(
            v,
            BlobmsgValue::Array(vec![
                BlobmsgValue::Int32(1),
                BlobmsgValue::Int64(3_000_000_000),
                BlobmsgValue::Int8(1),
                BlobmsgValue::Double(1.5),
                BlobmsgValue::Unspec,
                BlobmsgValue::Int32(-5),
            ])
        );
        assert_eq!(
            BlobmsgValue::from_json(&json!(u64::MAX)),
            BlobmsgValue::Int64(i64::MAX)
        );
        assert!(table_from_json(&json!("x")).is_err());
        assert_eq!(table_from_json(&Json::Null).unwrap(), Table::new());
    }

    #[test]
    fn every_type_round_trips() {
        let t: Table = vec![
            ("u".into(), BlobmsgValue::Unspec),
            ("i64".into(), BlobmsgValue::Int64(-2)),
            ("i16".into(), BlobmsgValue::Int16(300)),
            ("b".into(), BlobmsgValue::Int8(1)),
            ("d".into(), BlobmsgValue::Double(0.25)),
            (
                "x".into(),
                BlobmsgValue::Unknown {
                    id: 42,
                    data: vec![1, 2, 3],
                },
            ),
            (
                "arr".into(),
                BlobmsgValue::Array(vec![BlobmsgValue::String(String::new())]),
            ),
        ];
        let mut out = Vec::new();
        emit_table(&t, &mut out);
        assert_eq!(out.len() % 4, 0);
        assert_eq!(parse_table(&out).unwrap(), t);
    }

    #[test]
    fn rejects_bad_values() {
        // INT32 "a" with a 3-byte value.
        let mut b = unhex("8500000b000161000000000100");
        assert_eq!(
            parse_table(&b).err(),
            Some(WireError("blobmsg integer of wrong length"))
        );
        // STRING "b" = "x" without its NUL.
        b = unhex("83000009000162007800000000");
        assert!(parse_table(&b[..12]).is_err());
        // Name length pointing past the attribute.
        b = unhex("8500000c00ff610000000001");
        assert!(parse_table(&b).is_err());
    }

    #[test]
    fn plain_attributes_in_arrays_and_tables() {
        // Array holding a plain INT32 (id 5, no name) and a table holding a plain attr.
        let arr = unhex("81000010000000000500000800000007820000100000000003000008000000ff");
        let t = parse_table(&arr).unwrap();
        assert_eq!(t[0].1, BlobmsgValue::Array(vec![BlobmsgValue::Int32(7)]));
        assert_eq!(t[1].1, BlobmsgValue::Table(vec![]));
    }

    #[test]
    fn rejects_deep_nesting() {
        let mut v = BlobmsgValue::Unspec;
        for _ in 0..MAX_DEPTH + 1 {
            v = BlobmsgValue::Array(vec![v]);
        }
        let mut out = Vec::new();
        v.emit("a", &mut out);
        assert_eq!(
            parse_table(&out).err(),
            Some(WireError("blobmsg nested too deeply"))
        );
        let BlobmsgValue::Array(inner) = v else {
            unreachable!()
        };
        let mut out = Vec::new();
        inner[0].emit("a", &mut out);
        assert!(parse_table(&out).is_ok());
    }
}
