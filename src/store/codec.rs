//! The postcard helpers every tree and file of the store encodes with: a leaf, so the store's
//! modules share them without reaching back into `store/mod.rs`.

use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Error, Result};

/// Decodes a postcard value, naming the key when the bytes are damaged.
pub(crate) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| Error::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// Encodes a value for storage. Encoding plain structs into a Vec cannot fail.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("postcard encodes plain structs into a Vec")
}
