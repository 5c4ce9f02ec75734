//! A ratchet session with one peer device: p2panda-encryption's two-party secure messaging
//! (2SM) with long-term pre-keys.
//!
//! The first message is encrypted with X3DH against the peer's signed pre-key bundle; every
//! later message uses HPKE towards a key pair generated for just that round, and carries
//! fresh key pairs for both directions, so the session ratchets forward with every message
//! (forward secrecy and post-compromise security per round). 2SM needs messages in the
//! order they were sealed; [`crate::direct`] numbers them and refuses gaps and replays.
//!
//! Sessions are pure values: they are decoded from the store, advanced, and written back
//! only when the whole operation succeeded.

use p2panda_encryption::key_bundle::LongTermKeyBundle;
use p2panda_encryption::key_manager::KeyManagerState;
use p2panda_encryption::two_party::{LongTermTwoParty, TwoPartyMessage, TwoPartyState};
use p2panda_encryption::Rng;

use crate::direct::DirectError;

type State = TwoPartyState<LongTermKeyBundle>;

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, DirectError> {
    p2panda_core::cbor::encode_cbor(value)
        .map_err(|e| DirectError::Malformed(format!("encoding: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, DirectError> {
    p2panda_core::cbor::decode_cbor(bytes)
        .map_err(|e| DirectError::Malformed(format!("{what}: {e}")))
}

/// Seals `plaintext` for the peer. `state` is the stored session (None: start one from
/// `their_bundle`). Returns the new session state and the ciphertext.
pub(crate) fn seal(
    state: Option<&[u8]>,
    their_bundle: Option<LongTermKeyBundle>,
    ours: &KeyManagerState,
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), DirectError> {
    let y: State = match (state, their_bundle) {
        (Some(bytes), _) => decode(bytes, "ratchet session")?,
        (None, Some(bundle)) => LongTermTwoParty::init_to_send(bundle),
        (None, None) => return Err(DirectError::Malformed("no session and no bundle".into())),
    };
    let (y, message) = LongTermTwoParty::send(y, ours, plaintext, &Rng::default())
        .map_err(|e| DirectError::Decryption(format!("sealing: {e}")))?;
    Ok((encode(&y)?, encode(&message)?))
}

/// Opens a ciphertext from the peer. `state` is the stored session (None: this is the
/// peer's first message). Returns the new session state and the plaintext.
pub(crate) fn open(
    state: Option<&[u8]>,
    ours: &KeyManagerState,
    sealed: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), DirectError> {
    let y: State = match state {
        Some(bytes) => decode(bytes, "ratchet session")?,
        None => LongTermTwoParty::init_to_receive(),
    };
    let message: TwoPartyMessage = decode(sealed, "ciphertext")?;
    // Long-term pre-keys: the key manager state is not changed by receiving.
    let (y, _manager, plaintext) = LongTermTwoParty::receive(y, ours.clone(), message)
        .map_err(|e| DirectError::Decryption(e.to_string()))?;
    Ok((encode(&y)?, plaintext))
}
