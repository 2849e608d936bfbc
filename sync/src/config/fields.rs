//! The keys a configuration table may have, asked of the struct that reads it: a derived
//! `Deserialize` hands the names of its fields to the deserializer it is given
//! (`deserialize_struct`), so a deserializer that only records them gives the list. The
//! structs are then the only list of keys: a field added to one is a known key at once.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Visitor};

/// The field names (as written, renames applied) of the struct `T`; empty if `T` is not
/// a struct.
pub(super) fn of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    match T::deserialize(Names) {
        Err(Asked::Fields(fields)) => fields,
        _ => &[],
    }
}

/// A deserializer that answers every request with its question.
struct Names;

#[derive(Debug)]
enum Asked {
    Fields(&'static [&'static str]),
    Other,
}

impl fmt::Display for Asked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("asked for the field names")
    }
}

impl std::error::Error for Asked {}

impl de::Error for Asked {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Asked::Other
    }
}

impl<'de> de::Deserializer<'de> for Names {
    type Error = Asked;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Asked> {
        Err(Asked::Other)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Asked> {
        Err(Asked::Fields(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[expect(dead_code, reason = "only its field names are read")]
    struct Sample {
        a: u8,
        #[serde(rename = "b-renamed")]
        b: Option<String>,
        #[serde(default)]
        c: Vec<u8>,
    }

    #[test]
    fn a_struct_names_its_fields_and_anything_else_none() {
        assert_eq!(of::<Sample>(), ["a", "b-renamed", "c"]);
        assert!(of::<String>().is_empty());
        assert!(of::<Vec<u8>>().is_empty());
    }
}
