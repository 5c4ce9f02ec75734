//! CBOR helpers (ciborium) shared by all wire and state formats of this module.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::CryptoError;

/// Encodes `value` as CBOR.
pub(crate) fn to_cbor<T: Serialize>(value: &T) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|err| CryptoError::Encode(err.to_string()))?;
    Ok(out)
}

/// Decodes exactly one CBOR value from `bytes`; trailing bytes are an error.
pub(crate) fn from_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CryptoError> {
    let mut reader = bytes;
    let value = ciborium::from_reader(&mut reader).map_err(
        |err: ciborium::de::Error<std::io::Error>| CryptoError::Malformed(err.to_string()),
    )?;
    if !reader.is_empty() {
        return Err(CryptoError::Malformed(format!(
            "{} trailing bytes",
            reader.len()
        )));
    }
    Ok(value)
}

/// Checks a format version byte.
pub(crate) fn check_version(found: u8, expected: u8) -> Result<(), CryptoError> {
    if found == expected {
        Ok(())
    } else {
        Err(CryptoError::UnsupportedVersion(found))
    }
}
