//! How the request's fields are read beyond what serde derives: an object is never read from a
//! positional array, and `null` is never read as "absent". Both would accept a request that
//! does not say what its writer meant.

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// What a refusal says about `null` in a field that may be left out.
pub const NULL_IN_OPTIONAL: &str = "null is not a value; leave the field out";
/// What a refusal says about `null` in a field that must be given.
pub const NULL_IN_REQUIRED: &str = "null is not a value; this field needs one";

/// An object with named fields. serde's derived structs also read a JSON array by position
/// (`["orders", "live"]` as a target), where nothing says which value is which.
#[derive(Debug, Clone, PartialEq)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjectVisitor(PhantomData))
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with named fields")
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Object<T>, M::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Object)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, _: S) -> Result<Object<T>, S::Error> {
        Err(de::Error::custom(
            "is a list; write an object with named fields (values by position are not read)",
        ))
    }
}

/// A value that must not be null, where no field attribute can say so (a map's value read by
/// hand).
#[derive(Debug, Clone, PartialEq)]
pub struct Given<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Given<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        required(d).map(Given)
    }
}

/// `#[serde(default, deserialize_with = "optional")]`: left out, the field takes its default;
/// `null` is refused.
pub fn optional<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_option(NotNull(NULL_IN_OPTIONAL, PhantomData))
}

/// `#[serde(deserialize_with = "required")]`: `null` is refused (a missing field is refused by
/// serde, or by the caller of an `Option` field).
pub fn required<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_option(NotNull(NULL_IN_REQUIRED, PhantomData))
}

struct NotNull<T>(&'static str, PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for NotNull<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value other than null")
    }

    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Err(E::custom(self.0))
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Err(E::custom(self.0))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Pair {
        #[serde(deserialize_with = "required")]
        a: String,
        #[serde(default, deserialize_with = "optional")]
        b: Option<String>,
    }

    fn read(v: serde_json::Value) -> Result<Object<Pair>, String> {
        serde_path_to_error::deserialize(&v).map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    #[test]
    fn an_object_is_read_by_name_only() {
        assert_eq!(
            read(json!({"a": "x"})).unwrap().0,
            Pair {
                a: "x".into(),
                b: None
            }
        );
        let e = read(json!(["x", "y"])).unwrap_err();
        assert!(e.starts_with(".: is a list;"), "{e}");
        assert!(
            read(json!({"a": "x", "c": 1}))
                .unwrap_err()
                .contains("unknown field")
        );
    }

    #[test]
    fn null_is_refused_in_optional_and_required_fields() {
        assert_eq!(
            read(json!({"a": "x", "b": null})).unwrap_err(),
            format!("b: {NULL_IN_OPTIONAL}")
        );
        assert_eq!(
            read(json!({"a": null})).unwrap_err(),
            format!("a: {NULL_IN_REQUIRED}")
        );
        assert!(
            read(json!({"b": "y"}))
                .unwrap_err()
                .contains("missing field `a`")
        );
        assert_eq!(
            read(json!({"a": "x", "b": "y"})).unwrap().0.b.as_deref(),
            Some("y")
        );
    }
}
