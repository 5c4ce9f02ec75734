// XCTest tests of the FieldSync Swift bindings (generated code + ios/Sources/FieldSync adapters).
// Linux: make -f mk/bindings.mk test-swift (scripts/swift-test.sh: `swift test` in a Debian
// trixie chroot against the host-built libfieldsync_ffi.so). macOS: `swift test` after
// ./build-xcframework.sh.
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import FieldSync

/// An app-side key store, as a Keychain-backed one would look from the SDK.
final class MemoryKeyStore: DeviceKeyStore, @unchecked Sendable {
    private let lock = NSLock()
    private var key: Data?
    private var storeKey: Data?
    private(set) var saves = 0
    private(set) var storeKeySaves = 0

    init(key: Data? = nil, storeKey: Data? = nil) {
        self.key = key
        self.storeKey = storeKey
    }

    func loadStoreKey() throws -> Data? {
        lock.lock(); defer { lock.unlock() }
        return storeKey
    }

    func saveStoreKey(key: Data) throws {
        lock.lock(); defer { lock.unlock() }
        storeKey = key
        storeKeySaves += 1
    }

    var storedStoreKey: Data? {
        lock.lock(); defer { lock.unlock() }
        return storeKey
    }

    func load() throws -> Data? {
        lock.lock(); defer { lock.unlock() }
        return key
    }

    func save(key: Data) throws {
        lock.lock(); defer { lock.unlock() }
        self.key = key
        saves += 1
    }

    var storedKey: Data? {
        lock.lock(); defer { lock.unlock() }
        return key
    }
}

final class FailingKeyStore: DeviceKeyStore, @unchecked Sendable {
    struct Locked: Error {}
    func load() throws -> Data? { throw FieldSyncError.storage(reason: "keychain locked") }
    func save(key: Data) throws { throw Locked() }
    func loadStoreKey() throws -> Data? { throw FieldSyncError.storage(reason: "keychain locked") }
    func saveStoreKey(key: Data) throws { throw Locked() }
}

final class CollectingLogger: FieldSyncLogger, @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func log(level: LogLevel, target: String, message: String) {
        lock.lock(); defer { lock.unlock() }
        lines.append("\(level) \(target) \(message)")
    }

    var records: [String] {
        lock.lock(); defer { lock.unlock() }
        return lines
    }
}

/// The variant name of an error, for comparing kinds without their reasons.
func kind(_ error: Error) -> String {
    guard let e = error as? FieldSyncError else { return "not a FieldSyncError: \(error)" }
    switch e {
    case .notFound: return "NotFound"
    case .invalidArgument: return "InvalidArgument"
    case .invalidInvite: return "InvalidInvite"
    case .network: return "Network"
    case .storage: return "Storage"
    case .crypto: return "Crypto"
    case .wrongKey: return "WrongKey"
    case .busy: return "Busy"
    case .notAllowed: return "NotAllowed"
    case .closed: return "Closed"
    case .internal: return "Internal"
    }
}

/// Asserts that `body` throws a `FieldSyncError` of the given kind.
func assertThrows<T>(
    _ expected: String, file: StaticString = #filePath, line: UInt = #line,
    _ body: () async throws -> T
) async {
    do {
        _ = try await body()
        XCTFail("expected FieldSyncError.\(expected), got no error", file: file, line: line)
    } catch {
        await assertEqual(kind(error), expected, "\(error)", file: file, line: line)
    }
}

final class FieldSyncTests: XCTestCase {
    private var dirs: [URL] = []

    private func tempDir() -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fieldsync-swift-\(UUID().uuidString)")
        dirs.append(url)
        return url.path
    }

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(at: d) }
        dirs = []
        super.tearDown()
    }

    /// Compiles only if the generated API has the shape the AsyncSequence adapters rely on.
    func testStreamAdaptersMatchGeneratedApi() async {
        let subscriptionToStream: (EventSubscription) -> () -> AsyncStream<FieldSyncEvent> =
            EventSubscription.asStream
        let nodeToStream: (Node) -> () -> AsyncStream<FieldSyncEvent> = Node.events
        await assertNotNil(subscriptionToStream)
        await assertNotNil(nodeToStream)
    }

    func testOpenCreateEditAndReadJson() async throws {
        let node = try await Node.open(dataDir: tempDir())
        await assertEqual(node.authorId().count, 64)
        let doc = try await node.createDocument()
        await assertEqual(try await node.documentIds(), [doc.id()])

        let text = try doc.text(name: "notes")
        try await text.insert(pos: 0, text: "water point 3")
        try await text.push(text: " repaired")
        try await text.delete(pos: 0, len: 6)
        await assertEqual(try await text.content(), "point 3 repaired")
        await assertEqual(try await text.len(), 16)

        let map = try doc.map(name: "site")
        try await map.set(key: "name", value: .string(value: "Kisumu"))
        try await map.set(key: "visits", value: .int(value: 3))
        try await map.set(key: "ok", value: .bool(value: true))
        try await map.set(key: "ph", value: .double(value: 7.2))
        try await map.set(key: "note", value: .null)
        try await map.delete(key: "note")
        await assertEqual(try await map.get(key: "visits"), .int(value: 3))
        await assertNil(try await map.get(key: "missing"))
        await assertEqual(try await map.keys(), ["name", "ok", "ph", "visits"])

        let list = try doc.list(name: "readings")
        try await list.push(value: .int(value: 1))
        try await list.push(value: .int(value: 3))
        try await list.insert(index: 1, value: .int(value: 2))
        try await list.delete(index: 2, count: 1)
        await assertEqual(try await list.len(), 2)
        await assertEqual(try await list.get(index: 1), .int(value: 2))
        await assertNil(try await list.get(index: 5))

        await assertEqual(
            try await doc.toJson(),
            #"{"notes":"point 3 repaired","readings":[1,2],"site":{"name":"Kisumu","ok":true,"ph":7.2,"visits":3}}"#
        )
        let version = try await doc.version()
        await assertEqual(Array(version.keys), [node.authorId()])
        await assertEqual(UInt64(version[node.authorId()]!) + 1, try await doc.opCount())
        await assertEqual(try compareVersions(first: version, second: version), .equal)
        await assertEqual(try compareVersions(first: version, second: [:]), .ahead)
        // Pending: every edit plus the two control operations that created the document: its
        // genesis (roles) and its group.
        await assertEqual(try await doc.pendingOps(), try await doc.opCount() + 2)
        await assertEqual(UInt64(try await node.pendingOps().count), try await doc.opCount() + 2)
    }

    func testReopenFromDisk() async throws {
        let dir = tempDir()
        var author = ""
        var id = ""
        var json = ""
        do {
            let node = try await Node.open(dataDir: dir)
            let doc = try await node.createDocument()
            try await doc.text(name: "t").insert(pos: 0, text: "persisted")
            try await doc.map(name: "m").set(key: "k", value: .int(value: 42))
            author = node.authorId()
            id = doc.id()
            json = try await doc.toJson()
            try await node.shutdown()
        }
        let node = try await Node.open(dataDir: dir)
        await assertEqual(node.authorId(), author)
        await assertEqual(try await node.documentIds(), [id])
        let doc = try await node.openDocument(id: id)
        await assertEqual(try await doc.toJson(), json)
        try await doc.text(name: "t").push(text: ", and reopened")
        await assertEqual(try await doc.text(name: "t").content(), "persisted, and reopened")
    }

    func testEventsArriveAsAsyncSequence() async throws {
        let node = try await Node.open(dataDir: tempDir())
        let doc = try await node.createDocument()
        let sub = node.subscribe()
        try await doc.text(name: "t").insert(pos: 0, text: "a")
        try await doc.map(name: "m").set(key: "k", value: .bool(value: true))
        var got: [FieldSyncEvent] = []
        for await event in sub.asStream() {
            got.append(event)
            if got.count == 2 { break }
        }
        let expected = FieldSyncEvent.documentChanged(document: doc.id(), origin: .local)
        await assertEqual(got, [expected, expected])
        sub.cancel()
        await assertTrue(sub.isCancelled())
        let next = await sub.next()
        await assertNil(next)
    }

    func testNodeEventsStreamDeliversFirstEvent() async throws {
        let node = try await Node.open(dataDir: tempDir())
        let doc = try await node.createDocument()
        let first = Task { () -> FieldSyncEvent? in
            for await event in node.events() { return event }
            return nil
        }
        // The stream subscribes when iteration starts: edit until the consumer sees one.
        let editor = Task {
            var i: Int64 = 0
            while !Task.isCancelled && i < 500 {
                try await doc.list(name: "l").push(value: .int(value: i))
                i += 1
                try await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        let event = await first.value
        editor.cancel()
        await assertEqual(event, .documentChanged(document: doc.id(), origin: .local))
    }

    func testCancellingTheConsumingTaskCancelsTheSubscription() async throws {
        let node = try await Node.open(dataDir: tempDir())
        let sub = node.subscribe()
        let consumer = Task { () -> Int in
            var n = 0
            for await _ in sub.asStream() { n += 1 }
            return n
        }
        try await Task.sleep(nanoseconds: 100_000_000)
        consumer.cancel()
        let n = await consumer.value
        await assertEqual(n, 0)
        await assertTrue(sub.isCancelled())
    }

    func testShutdownEndsSubscriptionsAndClosesTheNode() async throws {
        let node = try await Node.open(dataDir: tempDir())
        let doc = try await node.createDocument()
        let text = try doc.text(name: "t")
        let sub = node.subscribe()
        try await node.shutdown()
        try await node.shutdown()  // idempotent
        await assertTrue(node.isShutDown())
        let next = await sub.next()
        await assertNil(next)
        await assertThrows("Closed") { try await node.createDocument() }
        await assertThrows("Closed") { try await doc.toJson() }
        await assertThrows("Closed") { try await text.insert(pos: 0, text: "x") }
        await assertThrows("Closed") { try await node.startNetwork(options: NetworkOptions()) }
    }

    func testInvalidInputRaisesTypedErrors() async throws {
        let node = try await Node.open(dataDir: tempDir())
        let doc = try await node.createDocument()
        // errors read well and carry a stable code
        do {
            _ = try await node.openDocument(id: "not-an-id")
            XCTFail("no error")
        } catch let error as FieldSyncError {
            XCTAssertEqual(error.code(), "invalid_argument")
            XCTAssertTrue("\(error)".hasPrefix("invalid argument: "), "\(error)")
            XCTAssertEqual(error.localizedDescription, "\(error)")
            guard case .invalidArgument(let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".hasSuffix(reason))
        }
        // unknown / malformed document ids
        await assertThrows("NotFound") { try await node.openDocument(id: String(repeating: "ab", count: 32)) }
        await assertThrows("NotFound") { try await node.deleteDocument(id: String(repeating: "cd", count: 32)) }
        await assertThrows("InvalidArgument") { try await node.openDocument(id: "") }
        await assertThrows("InvalidArgument") { try await node.openDocument(id: "not-an-id") }
        await assertThrows("InvalidArgument") { try await node.openDocument(id: String(repeating: "a", count: 1_000_000)) }
        // empty and huge strings
        await assertThrows("InvalidArgument") { try doc.text(name: "") }
        await assertThrows("InvalidArgument") { try doc.map(name: String(repeating: "m", count: 300)) }
        await assertThrows("InvalidArgument") { try await doc.text(name: "t").insert(pos: 0, text: "") }
        let huge = String(repeating: "x", count: 17 * 1024 * 1024)
        await assertThrows("InvalidArgument") { try await doc.text(name: "t").push(text: huge) }
        await assertThrows("InvalidArgument") { try await doc.map(name: "m").set(key: "k", value: .string(value: huge)) }
        await assertThrows("InvalidArgument") { try await doc.map(name: "m").set(key: "", value: .null) }
        await assertThrows("InvalidArgument") { try await doc.map(name: "m").get(key: "") }
        // out of bounds, non-finite numbers
        await assertThrows("InvalidArgument") { try await doc.text(name: "t").insert(pos: 5, text: "x") }
        await assertThrows("InvalidArgument") { try await doc.list(name: "l").delete(index: 0, count: 1) }
        await assertThrows("InvalidArgument") { try await doc.list(name: "l").push(value: .double(value: .nan)) }
        // malformed invites
        await assertThrows("InvalidInvite") { try await node.join(invite: "") }
        await assertThrows("InvalidInvite") { try await node.join(invite: "https://example.com/x") }
        await assertThrows("InvalidInvite") { try await node.join(invite: "fs1:!!!not-base64!!!") }
        await assertThrows("InvalidInvite") { try await node.join(invite: "fs1:" + String(repeating: "A", count: 100_000)) }
        let ownInvite = try await doc.invite()
        await assertThrows("InvalidInvite") { try await node.join(invite: ownInvite) }
        // network misuse
        await assertThrows("Network") { try await node.stopNetwork() }
        await assertThrows("InvalidArgument") { try await node.startNetwork(options: NetworkOptions(bindIp: "localhost:99")) }
        await assertThrows("InvalidArgument") {
            try await node.addPeer(peer: PeerAddress(nodeId: node.authorId(), addresses: ["nowhere"]))
        }
        // nothing above changed the document
        await assertEqual(try await doc.toJson(), "{}")
        // bad data directories
        await assertThrows("InvalidArgument") { try await Node.open(dataDir: "") }
        await assertThrows("InvalidArgument") { try await Node.open(dataDir: "a\u{0}b") }
        let file = tempDir()
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        await assertThrows("Storage") { try await Node.open(dataDir: file) }
    }

    func testKeyStoreKeepsTheDeviceKey() async throws {
        let store = MemoryKeyStore()
        let author = try await Node.open(dataDir: tempDir(), keyStore: store).authorId()
        await assertEqual(store.saves, 1)
        await assertEqual(store.storedKey?.count, 32)
        await assertEqual(try await Node.open(dataDir: tempDir(), keyStore: store).authorId(), author)
        await assertEqual(store.saves, 1)
        await assertNotEqual(try await Node.open(dataDir: tempDir()).authorId(), author)
    }

    func testStoreKeyBusyWrongKeyAndRotation() async throws {
        let dir = tempDir()
        let store = MemoryKeyStore()
        var text = ""
        do {
            let node = try await Node.open(dataDir: dir, keyStore: store)
            await assertEqual(store.storeKeySaves, 1)
            await assertEqual(store.storedStoreKey?.count, 32)
            // One node per data directory.
            await assertThrows("Busy") { try await Node.open(dataDir: dir, keyStore: store) }
            let doc = try await node.createDocument()
            try await doc.text(name: "t").insert(pos: 0, text: "sealed at rest")
            let before = store.storedStoreKey
            try await node.rotateStoreKey()
            await assertEqual(store.storeKeySaves, 2)
            await assertNotEqual(before, store.storedStoreKey)
            text = try await doc.toJson()
            // Both released here: the node's lock on the directory goes with them.
        }
        // Another store key: a typed error, and nothing is damaged.
        let wrong = MemoryKeyStore(key: store.storedKey, storeKey: Data(repeating: 7, count: 32))
        await assertThrows("WrongKey") { try await Node.open(dataDir: dir, keyStore: wrong) }
        let node = try await Node.open(dataDir: dir, keyStore: store)
        let id = try await unwrap(try await node.documentIds().first)
        await assertEqual(try await node.openDocument(id: id).toJson(), text)
    }

    func testKeyStoreFailuresAreCryptoErrors() async {
        await assertThrows("Crypto") { try await Node.open(dataDir: self.tempDir(), keyStore: MemoryKeyStore(key: Data(count: 5))) }
        await assertThrows("Crypto") { try await Node.open(dataDir: self.tempDir(), keyStore: FailingKeyStore()) }
        do {
            _ = try await Node.open(dataDir: tempDir(), keyStore: FailingKeyStore())
        } catch FieldSyncError.crypto(let reason) {
            await assertTrue(reason.contains("keychain locked"), reason)
        } catch {
            XCTFail("\(error)")
        }
    }

    func testLoggerReceivesTracingOutput() async throws {
        let logger = CollectingLogger()
        try setLogger(logger: logger, maxLevel: .info)
        _ = try await Node.open(dataDir: tempDir())
        try setLogger(logger: nil)
        await assertTrue(logger.records.contains { $0.contains("node opened") }, "\(logger.records)")
        // Records already on their way from other threads (earlier tests' nodes winding
        // down) may still land; nothing of this new node may.
        let before = logger.records.count
        _ = try await Node.open(dataDir: tempDir())
        await assertFalse(logger.records.dropFirst(before).contains { $0.contains("node opened") })
    }

    func testTwoNodesSyncOverQuicAndOfflineEditsArriveAfterRestart() async throws {
        let loopback = NetworkOptions(bindIp: "127.0.0.1")
        let a = try await Node.open(dataDir: tempDir())
        let b = try await Node.open(dataDir: tempDir())
        let docA = try await a.createDocument()
        try await docA.text(name: "notes").insert(pos: 0, text: "written before the network started")
        let infoA = try await a.startNetwork(options: loopback)
        await assertEqual(infoA.nodeId, a.authorId())
        await assertFalse(infoA.addresses.isEmpty)
        _ = try await b.startNetwork(options: loopback)
        let online = try await b.isOnline()
        await assertTrue(online)

        // B's key bundle reaches A out of band (QR code); A adds B to the document.
        let added = try await docA.addMember(keyBundle: try b.keyBundle())
        await assertEqual(added, b.authorId())
        await assertTrue(try await docA.members().contains(b.authorId()))
        // A wrong key bundle is a typed error, not a crash.
        await assertThrows("Crypto") { _ = try await docA.addMember(keyBundle: Data(repeating: 7, count: 40)) }
        await assertThrows("InvalidArgument") { _ = try await docA.addMember(keyBundle: Data()) }
        let docB = try await b.join(invite: try await docA.invite())
        await assertEqual(docB.id(), docA.id())
        try await waitUntil("B catches up with A") { try await docB.toJson() == docA.toJson() }

        try await docA.map(name: "site").set(key: "status", value: .string(value: "repaired"))
        try await waitUntil("live edit reaches B") { try await docB.toJson() == docA.toJson() }
        await assertEqual(try await compareVersions(first: docA.version(), second: docB.version()), .equal)
        let status = try await docB.syncStatus()
        await assertTrue(status.online)

        // Ephemeral messages (presence pings) arrive on each publish, a repeated payload too.
        // Gossip is best effort until the two are neighbours: warm up. A watchdog ends the
        // subscription after 60 s, so a message that never arrives fails instead of hanging.
        let sub = b.subscribe()
        let watchdog = Task {
            try? await Task.sleep(nanoseconds: 60_000_000_000)
            sub.cancel()
        }
        let warmUp = Task {
            var i = 0
            while !Task.isCancelled {
                try? await docA.publishEphemeral(payload: Data("warm-up \(i)".utf8))
                i += 1
                try? await Task.sleep(nanoseconds: 200_000_000)
            }
        }
        let warmed = await nextEphemeral(sub, from: a.authorId())
        warmUp.cancel()
        await assertNotNil(warmed, "no ephemeral message reached B within 60 s")
        let ping = Data("ping".utf8)
        for round in 1...3 {
            try await docA.publishEphemeral(payload: ping)
            var got = false
            while let payload = await nextEphemeral(sub, from: a.authorId()) {
                if payload == ping {
                    got = true
                    break
                }
            }
            await assertTrue(got, "ping \(round) did not reach B")
        }
        watchdog.cancel()
        sub.cancel()

        // B goes offline, edits, comes back: the edit reaches A without app action.
        try await b.stopNetwork()
        try await docB.list(name: "readings").push(value: .int(value: 7))
        await assertEqual(try await docB.pendingOps(), 1)
        await assertNotEqual(try await docA.toJson(), try await docB.toJson())
        _ = try await b.startNetwork(options: loopback)
        try await waitUntil("offline edit reaches A after restart") { try await docA.toJson() == docB.toJson() }
        await assertTrue(try await docA.toJson().contains(#""readings":[7]"#))

        try await a.shutdown()
        try await b.shutdown()
    }

    /// A reader gets the document and its role from A, but its own edits are refused with
    /// `NotAllowed` on its device and change nothing; promoted to writer, it can edit.
    func testReaderEditsAreNotAllowed() async throws {
        let loopback = NetworkOptions(bindIp: "127.0.0.1")
        let a = try await Node.open(dataDir: tempDir())
        let b = try await Node.open(dataDir: tempDir())
        let docA = try await a.createDocument()
        try await docA.text(name: "notes").insert(pos: 0, text: "for B to read")
        _ = try await a.startNetwork(options: loopback)
        _ = try await b.startNetwork(options: loopback)

        await assertEqual(try await docA.addMemberAs(keyBundle: try b.keyBundle(), role: .reader), b.authorId())
        await assertEqual(try await docA.myRole(), .admin)
        await assertTrue(try await docA.roles().contains(MemberRole(authorId: b.authorId(), role: .reader)))
        let docB = try await b.join(invite: try await docA.invite())
        try await waitUntil("B gets the document and its reader role") {
            let (role, jsonA, jsonB) = (try await docB.myRole(), try await docA.toJson(), try await docB.toJson())
            return role == .reader && jsonA == jsonB
        }
        await assertEqual(try await docB.myRole(), .reader)

        let before = try await docB.toJson()
        await assertThrows("NotAllowed") { try await docB.text(name: "notes").insert(pos: 0, text: "B was here: ") }
        await assertThrows("NotAllowed") { try await docB.map(name: "site").set(key: "by", value: .string(value: "B")) }
        await assertEqual(try await docB.toJson(), before)
        await assertEqual(try await docB.text(name: "notes").content(), "for B to read")

        // The refusal comes from the role: the same edit goes through once B writes.
        try await docA.setRole(authorId: b.authorId(), role: .writer)
        try await waitUntil("B learns it was promoted") { try await docB.myRole() == .writer }
        try await docB.text(name: "notes").insert(pos: 0, text: "B was here: ")
        try await waitUntil("B's edit reaches A") { try await docA.toJson() == docB.toJson() }
        await assertEqual(try await docA.text(name: "notes").content(), "B was here: for B to read")

        try await a.shutdown()
        try await b.shutdown()
    }

    /// Removing a member through the API: a writer's `removeMember` is refused with
    /// `NotAllowed`, the admin's removes the member from `roles()` and the group.
    func testOnlyAnAdminRemovesMembers() async throws {
        let loopback = NetworkOptions(bindIp: "127.0.0.1")
        let a = try await Node.open(dataDir: tempDir())
        let b = try await Node.open(dataDir: tempDir())
        let docA = try await a.createDocument()
        _ = try await a.startNetwork(options: loopback)
        _ = try await b.startNetwork(options: loopback)

        // addMember adds as a writer.
        await assertEqual(try await docA.addMember(keyBundle: try b.keyBundle()), b.authorId())
        let both: Set = [
            MemberRole(authorId: a.authorId(), role: .admin), MemberRole(authorId: b.authorId(), role: .writer),
        ]
        await assertEqual(await Set(try docA.roles()), both)
        let docB = try await b.join(invite: try await docA.invite())
        try await waitUntil("B gets its writer role") { try await docB.myRole() == .writer }

        // A writer may edit but not remove members; the refused call changes no role.
        await assertThrows("NotAllowed") { try await docB.removeMember(authorId: a.authorId()) }
        await assertEqual(try await docB.roles().first { $0.authorId == a.authorId() }?.role, .admin)
        try await docB.map(name: "site").set(key: "status", value: .string(value: "checked by B"))
        try await waitUntil("B's edit reaches A") { try await docA.toJson() == docB.toJson() }
        await assertEqual(await Set(try docA.roles()), both)
        await assertTrue(try await docA.members().contains(b.authorId()))

        try await docA.removeMember(authorId: b.authorId())
        await assertEqual(try await docA.roles(), [MemberRole(authorId: a.authorId(), role: .admin)])
        await assertFalse(try await docA.members().contains(b.authorId()))
        // B is no longer a member: removing it again is a typed error.
        await assertThrows("InvalidArgument") { try await docA.removeMember(authorId: b.authorId()) }

        try await a.shutdown()
        try await b.shutdown()
    }

    /// Issue #24: a backup of A's directory restored as a device while A was gone. B, which
    /// holds A's later edit, gives it to the restored device: an operation signed with its
    /// own key that it did not write. The event reaches the app and writes are refused.
    func testARestoredBackupIsDetectedAsACloneOfTheIdentity() async throws {
        let loopback = NetworkOptions(bindIp: "127.0.0.1")
        let dirA = tempDir()
        let backup = tempDir()
        let b = try await Node.open(dataDir: tempDir())
        let infoB = try await b.startNetwork(options: loopback)
        var docId = ""
        do {
            let a = try await Node.open(dataDir: dirA)
            let docA = try await a.createDocument()
            docId = docA.id()
            try await docA.text(name: "t").insert(pos: 0, text: "one")
            _ = try await a.startNetwork(options: loopback)
            let docB = try await b.join(invite: try await docA.invite())
            try await waitUntil("B joins A's document") { try await docB.toJson() == docA.toJson() }
            try await a.shutdown()
        }
        // The backup: every file of the directory but the lock.
        let fm = FileManager.default
        try fm.createDirectory(atPath: backup, withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: dirA) where name != "fieldsync.lock" {
            try fm.copyItem(atPath: dirA + "/" + name, toPath: backup + "/" + name)
        }
        // A writes once more and B receives it; then A is gone.
        do {
            let a = try await Node.open(dataDir: dirA)
            _ = try await a.startNetwork(options: loopback)
            try await a.addPeer(peer: PeerAddress(nodeId: b.authorId(), addresses: infoB.addresses))
            try await a.openDocument(id: docId).text(name: "t").push(text: " two")
            try await waitUntil("B holds A's later edit") {
                try await b.openDocument(id: docId).text(name: "t").content() == "one two"
            }
            try await a.shutdown()
        }
        let restored = try await Node.open(dataDir: backup)
        // Offline, the backup does not know yet: it writes at the position A wrote.
        try await restored.openDocument(id: docId).text(name: "t").push(text: " on the backup")
        let sub = restored.subscribe()
        let watchdog = Task {
            try? await Task.sleep(nanoseconds: 60_000_000_000)
            sub.cancel()
        }
        _ = try await restored.startNetwork(options: loopback)
        try await restored.addPeer(peer: PeerAddress(nodeId: b.authorId(), addresses: infoB.addresses))
        var cloned: String?
        while let event = await sub.next() {
            if case let .identityCloned(document, _) = event {
                cloned = document
                break
            }
        }
        watchdog.cancel()
        await assertEqual(cloned, docId, "IdentityCloned reaches the app")
        await assertTrue(try await restored.identityCloned())
        // B received both operations for that position: the fork proof freezes the identity's
        // log there, and `forks()` names it.
        try await waitUntil("B records the fork") {
            try await b.openDocument(id: docId).forks().contains { $0.author == restored.authorId() && !$0.control }
        }
        await assertThrows("NotAllowed") {
            try await restored.openDocument(id: docId).text(name: "t").push(text: " from the backup")
        }
        try await restored.shutdown()
        try await b.shutdown()
    }

    /// Releasing the last reference to the node shuts it down although a document and a
    /// handle of it are still referenced: its QUIC port is free again, the handles fail
    /// with `Closed`, the directory opens again.
    func testReleasingTheNodeStopsItsNetworkWhileDocumentsAreStillReferenced() async throws {
        let dir = tempDir()
        var node: Node? = try await Node.open(dataDir: dir)
        let doc = try await node!.createDocument()
        let text = try doc.text(name: "t")
        try await text.insert(pos: 0, text: "kept")
        let info = try await node!.startNetwork(options: NetworkOptions(bindIp: "127.0.0.1"))
        let address = try await unwrap(info.addresses.first { $0.hasPrefix("127.0.0.1:") })
        let port = try await unwrap(UInt16(address.split(separator: ":").last!))
        node = nil
        // The endpoint's socket closes in the background right after the network stops.
        try await waitUntil("the QUIC socket is closed", timeout: 10) { udpPortIsFree(port) }
        await assertThrows("Closed") { try await text.push(text: "x") }
        await assertThrows("Closed") { _ = try await doc.toJson() }
        let again = try await Node.open(dataDir: dir)
        await assertEqual(try await again.openDocument(id: doc.id()).text(name: "t").content(), "kept")
        try await again.shutdown()
    }

    /// The payload of the next ephemeral message from `from`, nil once `sub` ended.
    private func nextEphemeral(_ sub: EventSubscription, from: String) async -> Data? {
        while let event = await sub.next() {
            if case let .ephemeral(_, sender, payload) = event, sender == from {
                return payload
            }
        }
        return nil
    }

    /// The next `joinRefused` event on `sub`; nil if none came within 30 s.
    private func nextJoinRefused(_ sub: EventSubscription) async -> FieldSyncEvent? {
        let watchdog = Task {
            try? await Task.sleep(nanoseconds: 30_000_000_000)
            sub.cancel()
        }
        defer { watchdog.cancel() }
        while let event = await sub.next() {
            if case .joinRefused = event { return event }
        }
        return nil
    }

    /// A join request the inviter refuses (its invites were revoked) is reported on both
    /// devices with the reason; before it is delivered, `syncStatus().join` says it waits.
    func testARefusedJoinIsReportedOnBothDevices() async throws {
        let loopback = NetworkOptions(bindIp: "127.0.0.1")
        let a = try await Node.open(dataDir: tempDir())
        let b = try await Node.open(dataDir: tempDir())
        let docA = try await a.createDocument()
        _ = try await a.startNetwork(options: loopback)
        let invite = try await docA.invite()
        await assertEqual(try await a.revokeInvites(document: docA.id()), 1)
        let eventsA = a.subscribe()
        let eventsB = b.subscribe()
        let docB = try await b.join(invite: invite) // B is offline: the request waits
        let waiting = try await docB.syncStatus().join
        await assertEqual(waiting?.inviter, a.authorId())
        await assertEqual(waiting?.delivered, false)
        await assertEqual(waiting?.refused, nil)
        await assertTrue(waiting?.description.hasPrefix("waiting for admission by") == true)

        _ = try await b.startNetwork(options: loopback)
        let expected = FieldSyncEvent.joinRefused(
            document: docA.id(), requester: b.authorId(), inviter: a.authorId(), reason: .revoked)
        await assertEqual(await nextJoinRefused(eventsA), expected)
        await assertEqual(await nextJoinRefused(eventsB), expected)
        let refused = try await docB.syncStatus().join
        await assertEqual(refused?.refused, .revoked)
        await assertTrue(refused?.description.contains("revoked") == true)
        await assertEqual(try await docA.syncStatus().join, nil)
        eventsA.cancel()
        eventsB.cancel()
        try await a.shutdown()
        try await b.shutdown()
    }

    /// Roles: a reader reads but its edits are refused with `NotAllowed`; only an admin
    /// changes membership; removal through the API drops the member from the roles.
    func testRolesAReadersEditIsRefusedAndRemovalWorks() async throws {
        let loopback = NetworkOptions(bindIp: "127.0.0.1")
        let a = try await Node.open(dataDir: tempDir())
        let b = try await Node.open(dataDir: tempDir())
        let docA = try await a.createDocument()
        try await docA.text(name: "notes").insert(pos: 0, text: "site 4: pump ok")
        await assertEqual(try await docA.myRole(), .admin)
        _ = try await a.startNetwork(options: loopback)
        _ = try await b.startNetwork(options: loopback)
        _ = try await docA.addMemberAs(keyBundle: try b.keyBundle(), role: .reader)
        let docB = try await b.join(invite: try await docA.invite())
        try await waitUntil("the reader reads") { try await docB.toJson() == docA.toJson() }
        await assertEqual(try await docB.myRole(), .reader)
        await assertThrows("NotAllowed") { try await docB.text(name: "notes").insert(pos: 0, text: "x") }
        await assertThrows("NotAllowed") { try await docB.removeMember(authorId: a.authorId()) }
        await assertTrue(try await docA.roles().contains(MemberRole(authorId: b.authorId(), role: .reader)))
        try await docA.removeMember(authorId: b.authorId())
        await assertFalse(try await docA.roles().contains { $0.authorId == b.authorId() })
        try await a.shutdown()
        try await b.shutdown()
    }
}

/// True if a UDP socket binds 127.0.0.1:`port` (nobody holds it).
func udpPortIsFree(_ port: UInt16) -> Bool {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_DGRAM, 0)
    #endif
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    return rc == 0
}
