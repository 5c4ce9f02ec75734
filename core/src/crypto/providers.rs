//! Serializable marker types plugging `KeyRegistry` / `KeyManager` into the group state.
//!
//! `GroupState`'s derived `Serialize` requires every type parameter to be `Serialize`, which
//! the crate's own `KeyRegistry` and `KeyManager` markers are not; these zero-sized wrappers
//! delegate to them and derive serde.

use std::convert::Infallible;

use p2panda_core::VerifyingKey;
use p2panda_encryption::crypto::x25519::{PublicKey, SecretKey};
use p2panda_encryption::key_bundle::{
    Lifetime, LongTermKeyBundle, OneTimeKeyBundle, OneTimePreKeyId, PreKeyId,
};
use p2panda_encryption::key_manager::{KeyManager, KeyManagerError, KeyManagerState};
use p2panda_encryption::key_registry::{KeyRegistry, KeyRegistryError, KeyRegistryState};
use p2panda_encryption::traits::{
    IdentityManager, IdentityRegistry, PreKeyManager, PreKeyRegistry,
};
use p2panda_encryption::Rng;
use serde::{Deserialize, Serialize};

/// Public-key infrastructure of a group: the key bundles of other devices
/// (delegates to `p2panda_encryption::key_registry::KeyRegistry`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Registry;

impl IdentityRegistry<VerifyingKey, KeyRegistryState<VerifyingKey>> for Registry {
    type Error = Infallible;

    fn identity_key(
        y: &KeyRegistryState<VerifyingKey>,
        id: &VerifyingKey,
    ) -> Result<Option<PublicKey>, Self::Error> {
        <KeyRegistry<VerifyingKey> as IdentityRegistry<_, _>>::identity_key(y, id)
    }
}

impl PreKeyRegistry<VerifyingKey, LongTermKeyBundle> for Registry {
    type State = KeyRegistryState<VerifyingKey>;

    type Error = KeyRegistryError;

    fn key_bundle(
        y: Self::State,
        id: &VerifyingKey,
    ) -> Result<(Self::State, Option<LongTermKeyBundle>), Self::Error> {
        <KeyRegistry<VerifyingKey> as PreKeyRegistry<_, LongTermKeyBundle>>::key_bundle(y, id)
    }
}

/// Our own identity and pre-key secrets
/// (delegates to `p2panda_encryption::key_manager::KeyManager`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Keys;

impl IdentityManager<KeyManagerState> for Keys {
    fn identity_secret(y: &KeyManagerState) -> &SecretKey {
        <KeyManager as IdentityManager<KeyManagerState>>::identity_secret(y)
    }
}

impl PreKeyManager for Keys {
    type State = KeyManagerState;

    type Error = KeyManagerError;

    fn prekey_secret<'a>(
        y: &'a Self::State,
        id: &'a PreKeyId,
    ) -> Result<&'a SecretKey, Self::Error> {
        KeyManager::prekey_secret(y, id)
    }

    fn rotate_prekey(
        y: Self::State,
        lifetime: Lifetime,
        rng: &Rng,
    ) -> Result<Self::State, Self::Error> {
        KeyManager::rotate_prekey(y, lifetime, rng)
    }

    fn prekey_bundle(y: &Self::State) -> Result<LongTermKeyBundle, Self::Error> {
        KeyManager::prekey_bundle(y)
    }

    fn generate_onetime_bundle(
        y: Self::State,
        rng: &Rng,
    ) -> Result<(Self::State, OneTimeKeyBundle), Self::Error> {
        KeyManager::generate_onetime_bundle(y, rng)
    }

    fn use_onetime_secret(
        y: Self::State,
        id: OneTimePreKeyId,
    ) -> Result<(Self::State, Option<SecretKey>), Self::Error> {
        KeyManager::use_onetime_secret(y, id)
    }
}
