//! Tests of the `crypto` module (three-device scenarios, tampering, persistence, ordering).

use std::time::Duration;

use p2panda_core::{Hash, SigningKey, VerifyingKey};

use super::*;

struct Device {
    id: VerifyingKey,
    keys: DeviceKeys,
}

fn device() -> Device {
    let id = SigningKey::generate().verifying_key();
    let keys = DeviceKeys::generate(id).unwrap();
    Device { id, keys }
}

fn gid(name: &str) -> GroupId {
    GroupId::from(Hash::digest(name.as_bytes()))
}

/// Serializes and restores a group state.
fn reload(group: &DocumentGroup) -> DocumentGroup {
    DocumentGroup::from_bytes(&group.to_bytes().unwrap()).unwrap()
}

/// Serializes and restores device keys.
fn reload_keys(dev: &mut Device) {
    dev.keys = DeviceKeys::from_bytes(&dev.keys.to_bytes().unwrap()).unwrap();
}

fn bundle(dev: &Device) -> KeyBundle {
    // Through bytes, like a bundle received as an operation body.
    let bytes = dev.keys.key_bundle().unwrap().to_bytes().unwrap();
    KeyBundle::from_bytes_for(dev.id, &bytes).unwrap()
}

fn recv(
    group: &mut DocumentGroup,
    dev: &Device,
    sender: &Device,
    msg: &GroupMessage,
) -> GroupEvents {
    group.receive(&dev.keys, sender.id, msg.as_bytes()).unwrap()
}

fn sorted(mut ids: Vec<VerifyingKey>) -> Vec<VerifyingKey> {
    ids.sort();
    ids
}

#[test]
fn three_devices_add_and_remove() {
    let (a, b, c) = (device(), device(), device());
    let g = gid("doc-1");

    // A creates the group with B.
    let (mut ga, m_create) = DocumentGroup::create(&a.keys, g, &[bundle(&b)]).unwrap();
    let mut gb = DocumentGroup::new(&b.keys, g);
    let ev = recv(&mut gb, &b, &a, &m_create);
    assert_eq!(ev.events, vec![GroupEvent::Welcomed { by: a.id }]);
    assert_eq!(gb.members(), sorted(vec![a.id, b.id]));
    assert_eq!(ga.members(), gb.members());

    // Our own message fed back is a no-op.
    let ev = recv(&mut ga, &a, &a, &m_create);
    assert!(matches!(ev.events[..], [GroupEvent::Duplicate { .. }]));

    // Both encrypt and decrypt each other's data.
    let ct_a1 = ga.encrypt(b"from A, before C").unwrap();
    let ct_b1 = gb.encrypt(b"from B, before C").unwrap();
    assert_eq!(gb.decrypt(&ct_a1).unwrap(), b"from A, before C");
    assert_eq!(ga.decrypt(&ct_b1).unwrap(), b"from B, before C");
    assert_eq!(ga.decrypt(&ct_a1).unwrap(), b"from A, before C");

    // C sees the "create" before it is added: buffered, cannot decrypt yet.
    let mut gc = DocumentGroup::new(&c.keys, g);
    let ev = recv(&mut gc, &c, &a, &m_create);
    assert!(matches!(ev.events[..], [GroupEvent::Buffered { .. }]));
    assert!(matches!(
        gc.decrypt(&ct_a1),
        Err(CryptoError::UnknownSecret(_))
    ));

    // A adds C.
    let m_add = ga.add(&a.keys, &bundle(&c)).unwrap();
    let ev = recv(&mut gb, &b, &a, &m_add);
    assert_eq!(
        ev.events,
        vec![GroupEvent::MemberAdded {
            by: a.id,
            member: c.id
        }]
    );
    let ev = recv(&mut gc, &c, &a, &m_add);
    assert_eq!(ev.events, vec![GroupEvent::Welcomed { by: a.id }]);
    assert_eq!(
        ev.pending, 0,
        "the create is in the welcome's past and dropped"
    );
    let all = sorted(vec![a.id, b.id, c.id]);
    assert_eq!(ga.members(), all);
    assert_eq!(gb.members(), all);
    assert_eq!(gc.members(), all);

    // C reads history written before its addition, and new data.
    assert_eq!(gc.decrypt(&ct_a1).unwrap(), b"from A, before C");
    assert_eq!(gc.decrypt(&ct_b1).unwrap(), b"from B, before C");
    let ct_c1 = gc.encrypt(b"from C").unwrap();
    assert_eq!(ga.decrypt(&ct_c1).unwrap(), b"from C");
    assert_eq!(gb.decrypt(&ct_c1).unwrap(), b"from C");
    let ct_b2 = gb.encrypt(b"from B, after C").unwrap();
    assert_eq!(gc.decrypt(&ct_b2).unwrap(), b"from B, after C");

    // A removes B.
    let m_remove = ga.remove(&a.keys, b.id).unwrap();
    let ev = recv(&mut gc, &c, &a, &m_remove);
    assert_eq!(
        ev.events,
        vec![GroupEvent::MemberRemoved {
            by: a.id,
            member: b.id
        }]
    );
    let ev = recv(&mut gb, &b, &a, &m_remove);
    assert_eq!(ev.events, vec![GroupEvent::RemovedUs { by: a.id }]);
    assert!(!gb.is_member());
    assert_eq!(ga.members(), sorted(vec![a.id, c.id]));
    assert_eq!(gc.members(), ga.members());

    // B cannot decrypt anything encrypted after its removal.
    let ct_a3 = ga.encrypt(b"A after removal").unwrap();
    let ct_c3 = gc.encrypt(b"C after removal").unwrap();
    assert!(matches!(
        gb.decrypt(&ct_a3),
        Err(CryptoError::UnknownSecret(_))
    ));
    assert!(matches!(
        gb.decrypt(&ct_c3),
        Err(CryptoError::UnknownSecret(_))
    ));
    assert!(matches!(gb.encrypt(b"x"), Err(CryptoError::NotAMember)));
    assert!(matches!(gb.update(&b.keys), Err(CryptoError::NotAMember)));
    // ... while what it could read before stays readable to it.
    assert_eq!(gb.decrypt(&ct_a1).unwrap(), b"from A, before C");

    // A and C continue.
    assert_eq!(gc.decrypt(&ct_a3).unwrap(), b"A after removal");
    assert_eq!(ga.decrypt(&ct_c3).unwrap(), b"C after removal");
}

#[test]
fn late_member_can_remove_and_update() {
    // C (added later) learns B's key bundle from the "add" message and can rotate to B.
    let (a, b, c) = (device(), device(), device());
    let g = gid("doc-late");
    let (mut ga, m0) = DocumentGroup::create(&a.keys, g, &[bundle(&b)]).unwrap();
    let mut gb = DocumentGroup::new(&b.keys, g);
    let mut gc = DocumentGroup::new(&c.keys, g);
    recv(&mut gb, &b, &a, &m0);
    let m1 = ga.add(&a.keys, &bundle(&c)).unwrap();
    recv(&mut gb, &b, &a, &m1);
    recv(&mut gc, &c, &a, &m1);

    // C rotates: needs first 2SM messages to B (bundle from the "add") and to A.
    let m2 = gc.update(&c.keys).unwrap();
    assert_eq!(
        recv(&mut ga, &a, &c, &m2).events,
        vec![GroupEvent::SecretRotated { by: c.id }]
    );
    assert_eq!(
        recv(&mut gb, &b, &c, &m2).events,
        vec![GroupEvent::SecretRotated { by: c.id }]
    );
    let ct = gc.encrypt(b"rotated").unwrap();
    assert_eq!(ga.decrypt(&ct).unwrap(), b"rotated");
    assert_eq!(gb.decrypt(&ct).unwrap(), b"rotated");

    // C removes A.
    let m3 = gc.remove(&c.keys, a.id).unwrap();
    assert_eq!(
        recv(&mut ga, &a, &c, &m3).events,
        vec![GroupEvent::RemovedUs { by: c.id }]
    );
    recv(&mut gb, &b, &c, &m3);
    let ct = gb.encrypt(b"without A").unwrap();
    assert_eq!(gc.decrypt(&ct).unwrap(), b"without A");
    assert!(matches!(
        ga.decrypt(&ct),
        Err(CryptoError::UnknownSecret(_))
    ));
}

#[test]
fn plaintext_sizes_round_trip() {
    let (a, b) = (device(), device());
    let (ga, m0) = DocumentGroup::create(&a.keys, gid("sizes"), &[bundle(&b)]).unwrap();
    let mut gb = DocumentGroup::new(&b.keys, gid("sizes"));
    recv(&mut gb, &b, &a, &m0);
    for size in [0usize, 1, 496, 497, 65_536, 1_048_576] {
        let plaintext: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let ct = ga.encrypt(&plaintext).unwrap();
        assert_eq!(ct.len(), size + ENVELOPE_OVERHEAD);
        assert_eq!(gb.decrypt(&ct).unwrap(), plaintext, "size {size}");
        assert_eq!(ga.decrypt(&ct).unwrap(), plaintext, "size {size}");
    }
}

#[test]
fn tampering_wrong_group_garbage_and_replay() {
    let (a, b) = (device(), device());
    let (mut ga, m0) = DocumentGroup::create(&a.keys, gid("t1"), &[bundle(&b)]).unwrap();
    let mut gb = DocumentGroup::new(&b.keys, gid("t1"));
    recv(&mut gb, &b, &a, &m0);
    let ct = ga.encrypt(b"hello world").unwrap();

    // Flipped bit in the ciphertext body or the nonce: authentication failure.
    for index in [ct.len() - 1, ct.len() - 20, 70, 4 + 32 + 32] {
        let mut bad = ct.clone();
        bad[index] ^= 0x01;
        assert!(
            matches!(gb.decrypt(&bad), Err(CryptoError::AuthenticationFailed)),
            "flip at {index}"
        );
    }
    // Flipped bit in the secret id: unknown secret; in the group id: wrong group.
    let mut bad = ct.clone();
    bad[4 + 32] ^= 0x80;
    assert!(matches!(
        gb.decrypt(&bad),
        Err(CryptoError::UnknownSecret(_))
    ));
    let mut bad = ct.clone();
    bad[4] ^= 0x80;
    assert!(matches!(gb.decrypt(&bad), Err(CryptoError::WrongGroup)));
    // The group still works.
    assert_eq!(gb.decrypt(&ct).unwrap(), b"hello world");
    let ct2 = gb.encrypt(b"still fine").unwrap();
    assert_eq!(ga.decrypt(&ct2).unwrap(), b"still fine");

    // Ciphertext from another group.
    let (other, _) = DocumentGroup::create(&a.keys, gid("t2"), &[bundle(&b)]).unwrap();
    let foreign = other.encrypt(b"other group").unwrap();
    assert!(matches!(gb.decrypt(&foreign), Err(CryptoError::WrongGroup)));

    // Garbage and truncated bytes.
    for garbage in [
        &b""[..],
        b"x",
        b"FSC\x01",
        &ct[..ct.len() / 2],
        &ct[..HEADER_PROBE],
    ] {
        assert!(
            matches!(gb.decrypt(garbage), Err(CryptoError::Malformed(_))),
            "{garbage:?}"
        );
    }
    let mut wrong_version = ct.clone();
    wrong_version[3] = 9;
    assert!(matches!(
        gb.decrypt(&wrong_version),
        Err(CryptoError::UnsupportedVersion(9))
    ));

    // Garbage / truncated / trailing control messages.
    let m1 = ga.update(&a.keys).unwrap();
    let bytes = m1.as_bytes();
    for bad in [
        &b""[..],
        b"\xff\x00",
        &bytes[..bytes.len() - 1],
        &bytes[..10],
    ] {
        assert!(matches!(
            gb.receive(&b.keys, a.id, bad),
            Err(CryptoError::Malformed(_))
        ));
    }
    let mut trailing = bytes.to_vec();
    trailing.push(0);
    assert!(matches!(
        gb.receive(&b.keys, a.id, &trailing),
        Err(CryptoError::Malformed(_))
    ));
    // Claimed sender differs from the authenticated author.
    assert!(matches!(
        gb.receive(&b.keys, b.id, bytes),
        Err(CryptoError::SenderMismatch { .. })
    ));
    // Control message of another group.
    let mut gb_other = DocumentGroup::new(&b.keys, gid("t3"));
    assert!(matches!(
        gb_other.receive(&b.keys, a.id, bytes),
        Err(CryptoError::WrongGroup)
    ));

    // The real message, then a replay.
    let ev = recv(&mut gb, &b, &a, &m1);
    assert_eq!(ev.events, vec![GroupEvent::SecretRotated { by: a.id }]);
    let secrets = gb.secret_count();
    let ev = recv(&mut gb, &b, &a, &m1);
    assert!(matches!(ev.events[..], [GroupEvent::Duplicate { .. }]));
    let ev = recv(&mut gb, &b, &a, &m0);
    assert!(matches!(ev.events[..], [GroupEvent::Duplicate { .. }]));
    assert_eq!(gb.secret_count(), secrets);
    let ct3 = ga.encrypt(b"after replay").unwrap();
    assert_eq!(gb.decrypt(&ct3).unwrap(), b"after replay");
    let ct4 = gb.encrypt(b"b after replay").unwrap();
    assert_eq!(ga.decrypt(&ct4).unwrap(), b"b after replay");

    // Device keys of another device are refused.
    assert!(matches!(
        gb.receive(&a.keys, a.id, m1.as_bytes()),
        Err(CryptoError::WrongDevice { .. })
    ));
}

/// Shorter than header + tag.
const HEADER_PROBE: usize = 4 + 32 + 32 + 24 + 15;

#[test]
fn persistence_between_every_step() {
    let (mut a, mut b, mut c) = (device(), device(), device());
    let g = gid("persist");
    let (ga, m0) = DocumentGroup::create(&a.keys, g, &[bundle(&b)]).unwrap();
    let mut ga = reload(&ga);
    let mut gb = reload(&DocumentGroup::new(&b.keys, g));
    let mut gc = reload(&DocumentGroup::new(&c.keys, g));
    let step = |ga: &mut DocumentGroup,
                gb: &mut DocumentGroup,
                gc: &mut DocumentGroup,
                a: &mut Device,
                b: &mut Device,
                c: &mut Device| {
        *ga = reload(ga);
        *gb = reload(gb);
        *gc = reload(gc);
        reload_keys(a);
        reload_keys(b);
        reload_keys(c);
    };

    recv(&mut gb, &b, &a, &m0);
    step(&mut ga, &mut gb, &mut gc, &mut a, &mut b, &mut c);
    let ct1 = ga.encrypt(b"edit 1").unwrap();
    step(&mut ga, &mut gb, &mut gc, &mut a, &mut b, &mut c);
    assert_eq!(gb.decrypt(&ct1).unwrap(), b"edit 1");

    // Add C (C sees the create first: the buffer is persisted too).
    recv(&mut gc, &c, &a, &m0);
    step(&mut ga, &mut gb, &mut gc, &mut a, &mut b, &mut c);
    assert_eq!(gc.pending_count(), 1);
    let m1 = ga.add(&a.keys, &bundle(&c)).unwrap();
    step(&mut ga, &mut gb, &mut gc, &mut a, &mut b, &mut c);
    recv(&mut gb, &b, &a, &m1);
    step(&mut ga, &mut gb, &mut gc, &mut a, &mut b, &mut c);
    recv(&mut gc, &c, &a, &m1);
    step(&mut ga, &mut gb, &mut gc, &mut a, &mut b, &mut c);
    assert_eq!(gc.pending_count(), 0);

    // Edit.
    let ct2 = gb.encrypt(b"edit 2").unwrap();
    step(&mut ga, &mut gb, &mut gc, &mut a, &mut b, &mut c);
    assert_eq!(gc.decrypt(&ct1).unwrap(), b"edit 1");
    assert_eq!(gc.decrypt(&ct2).unwrap(), b"edit 2");
    assert_eq!(ga.decrypt(&ct2).unwrap(), b"edit 2");

    // Remove B.
    let m2 = gc.remove(&c.keys, b.id).unwrap();
    step(&mut ga, &mut gb, &mut gc, &mut a, &mut b, &mut c);
    recv(&mut ga, &a, &c, &m2);
    step(&mut ga, &mut gb, &mut gc, &mut a, &mut b, &mut c);
    let ev = recv(&mut gb, &b, &c, &m2);
    assert_eq!(ev.events, vec![GroupEvent::RemovedUs { by: c.id }]);
    step(&mut ga, &mut gb, &mut gc, &mut a, &mut b, &mut c);

    // Edit.
    let ct3 = ga.encrypt(b"edit 3").unwrap();
    step(&mut ga, &mut gb, &mut gc, &mut a, &mut b, &mut c);
    assert_eq!(gc.decrypt(&ct3).unwrap(), b"edit 3");
    assert!(matches!(
        gb.decrypt(&ct3),
        Err(CryptoError::UnknownSecret(_))
    ));
    assert_eq!(ga.members(), sorted(vec![a.id, c.id]));
    assert_eq!(gc.members(), ga.members());
    // Replay after reload is still a no-op.
    let ev = recv(&mut ga, &a, &c, &m2);
    assert!(matches!(ev.events[..], [GroupEvent::Duplicate { .. }]));

    // Corrupted state bytes are a typed error.
    let bytes = ga.to_bytes().unwrap();
    assert!(matches!(
        DocumentGroup::from_bytes(&bytes[..bytes.len() / 2]),
        Err(CryptoError::Malformed(_))
    ));
    assert!(DeviceKeys::from_bytes(b"nope").is_err());
}

#[test]
fn non_member_cannot_decrypt() {
    let (a, b, d) = (device(), device(), device());
    let g = gid("private");
    let (mut ga, m0) = DocumentGroup::create(&a.keys, g, &[bundle(&b)]).unwrap();
    let m1 = ga.update(&a.keys).unwrap();
    let ct = ga.encrypt(b"secret").unwrap();

    // D sees every control message of the group but is never welcomed.
    let mut gd = DocumentGroup::new(&d.keys, g);
    for m in [&m0, &m1] {
        let ev = recv(&mut gd, &d, &a, m);
        assert!(matches!(ev.events[..], [GroupEvent::Buffered { .. }]));
    }
    assert!(!gd.is_welcomed());
    assert!(gd.members().is_empty());
    assert!(matches!(
        gd.decrypt(&ct),
        Err(CryptoError::UnknownSecret(_))
    ));
    assert!(matches!(gd.encrypt(b"x"), Err(CryptoError::NotWelcomed)));
    assert!(matches!(
        gd.add(&d.keys, &bundle(&a)),
        Err(CryptoError::NotWelcomed)
    ));

    // D's own group cannot read it either.
    let (gd2, _) = DocumentGroup::create(&d.keys, gid("d"), &[]).unwrap();
    assert!(matches!(gd2.decrypt(&ct), Err(CryptoError::WrongGroup)));
}

#[test]
fn buffers_until_dependencies_arrive() {
    let (a, b, c) = (device(), device(), device());
    let g = gid("order");
    let (mut ga, m0) = DocumentGroup::create(&a.keys, g, &[bundle(&b), bundle(&c)]).unwrap();
    let mut gb = DocumentGroup::new(&b.keys, g);
    let mut gc = DocumentGroup::new(&c.keys, g);
    recv(&mut gc, &c, &a, &m0);

    // C rotates; A processes it and rotates again (depends on C's message).
    let m_c = gc.update(&c.keys).unwrap();
    recv(&mut ga, &a, &c, &m_c);
    let m_a = ga.update(&a.keys).unwrap();
    let ct = ga.encrypt(b"latest").unwrap();

    // B receives A's second message first: it waits for the create and for C's update.
    let ev = recv(&mut gb, &b, &a, &m_a);
    assert!(matches!(ev.events[..], [GroupEvent::Buffered { .. }]));
    let ev = recv(&mut gb, &b, &c, &m_c);
    assert!(matches!(ev.events[..], [GroupEvent::Buffered { .. }]));
    assert_eq!(ev.pending, 2);
    assert!(matches!(
        gb.decrypt(&ct),
        Err(CryptoError::UnknownSecret(_))
    ));
    let ev = recv(&mut gb, &b, &a, &m0);
    assert_eq!(
        ev.events,
        vec![
            GroupEvent::Welcomed { by: a.id },
            GroupEvent::SecretRotated { by: c.id },
            GroupEvent::SecretRotated { by: a.id },
        ]
    );
    assert_eq!(ev.pending, 0);
    assert_eq!(gb.decrypt(&ct).unwrap(), b"latest");
}

#[test]
fn removed_member_cannot_inject_secret() {
    let (a, b, c) = (device(), device(), device());
    let g = gid("inject");
    let (mut ga, m0) = DocumentGroup::create(&a.keys, g, &[bundle(&b), bundle(&c)]).unwrap();
    let mut gb = DocumentGroup::new(&b.keys, g);
    let mut gc = DocumentGroup::new(&c.keys, g);
    recv(&mut gb, &b, &a, &m0);
    recv(&mut gc, &c, &a, &m0);

    // A removes B; concurrently B (not knowing) rotates the secret.
    let m_remove = ga.remove(&a.keys, b.id).unwrap();
    let m_b = gb.update(&b.keys).unwrap();

    // C processes the removal first: B's later control message is dropped.
    recv(&mut gc, &c, &a, &m_remove);
    let ev = recv(&mut gc, &c, &b, &m_b);
    assert!(matches!(ev.events[..], [GroupEvent::Unauthorized { .. }]));
    let ct = gc.encrypt(b"only A and C").unwrap();
    assert_eq!(ga.decrypt(&ct).unwrap(), b"only A and C");
    assert!(matches!(
        gb.decrypt(&ct),
        Err(CryptoError::UnknownSecret(_))
    ));
}

#[test]
fn key_bundles_and_prekey_rotation() {
    let (a, mut b) = (device(), device());
    let bytes = b.keys.key_bundle().unwrap().to_bytes().unwrap();
    assert_eq!(KeyBundle::from_bytes(&bytes).unwrap().owner(), b.id);
    assert!(matches!(
        KeyBundle::from_bytes_for(a.id, &bytes),
        Err(CryptoError::KeyBundleOwnerMismatch { .. })
    ));
    assert!(matches!(
        KeyBundle::from_bytes(&bytes[..5]),
        Err(CryptoError::Malformed(_))
    ));
    // Tampered pre-key: signature check fails (every single-bit flip must be rejected).
    let mut rejected = 0;
    for index in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[index] ^= 0x01;
        if KeyBundle::from_bytes(&bad).is_err() {
            rejected += 1;
        }
    }
    assert!(
        rejected > bytes.len() / 2,
        "only {rejected} of {} flips rejected",
        bytes.len()
    );

    // Rotation: not needed with a small window, needed with a window beyond the lifetime.
    // p2panda-encryption picks the latest pre-key by its second-resolution `not_before`, so
    // the rotated key must be minted in a later second than the first one to be preferred.
    let second = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let minted = second(std::time::SystemTime::now());
    while second(std::time::SystemTime::now()) == minted {
        std::thread::sleep(Duration::from_millis(10));
    }
    let g = gid("rotate");
    let gb_before = DocumentGroup::new(&b.keys, g);
    assert!(!b.keys.rotate_if_needed(DEFAULT_ROTATE_BEFORE).unwrap());
    assert!(b
        .keys
        .rotate_if_needed(DEFAULT_PREKEY_LIFETIME * 2)
        .unwrap());
    let new_bundle = bundle(&b);
    assert_ne!(KeyBundle::from_bytes(&bytes).unwrap(), new_bundle);
    assert!(new_bundle.expires_within(Duration::from_secs(100 * 24 * 3600)));
    assert!(!new_bundle.expires_within(Duration::from_secs(3600)));

    // A group state made before the rotation still opens X3DH against the new pre-key.
    let mut gb = gb_before;
    let (ga, m0) = DocumentGroup::create(&a.keys, g, &[new_bundle]).unwrap();
    assert_eq!(
        recv(&mut gb, &b, &a, &m0).events,
        vec![GroupEvent::Welcomed { by: a.id }]
    );
    let ct = ga.encrypt(b"after rotation").unwrap();
    assert_eq!(gb.decrypt(&ct).unwrap(), b"after rotation");
}
