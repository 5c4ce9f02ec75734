// XCTest tests of the data model through the Swift bindings (issue #25): nested records over
// QUIC mapped with Codable, path observers as an AsyncSequence, UTF-16 positions, undo,
// history and snapshots.
import Foundation
import XCTest
@testable import FieldSync

/// A survey record as an app models it, mapped through the JSON API with `Codable`.
struct Household: Codable, Equatable {
    var name: String
    var size: Int
    var readings: [Double]
    var notes: String?
}

final class DataModelTests: XCTestCase {
    private var dirs: [URL] = []

    private func tempDir() -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fieldsync-model-\(UUID().uuidString)")
        dirs.append(url)
        return url.path
    }

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(at: d) }
        dirs = []
        super.tearDown()
    }

    private func households(_ i: UInt32) -> [PathSegment] {
        [.key(key: "households"), .index(index: i)]
    }

    private func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    private func decode(_ json: String?) throws -> Household {
        try JSONDecoder().decode(Household.self, from: Data(try XCTUnwrap(json).utf8))
    }

    /// The acceptance scenario: a households survey (records with a nested list of readings
    /// and a notes text) edited concurrently on two nodes over QUIC converges; a path observer
    /// on B sees exactly the remote change under its record, its first item being the record
    /// now; a record decoded with Codable equals what was written.
    func testHouseholdsSurveyOverQuicConvergesAndAPathObserverSeesOnlyItsRecord() async throws {
        let loopback = NetworkOptions(bindIp: "127.0.0.1")
        let a = try await Node.open(dataDir: tempDir())
        let b = try await Node.open(dataDir: tempDir())
        let docA = try await a.createDocument()
        let list = try docA.list(name: "households")
        try await list.pushJson(json: json(Household(name: "Nkosi", size: 4, readings: [1.5, 2], notes: nil)))
        try await list.pushJson(json: json(Household(name: "Okafor", size: 2, readings: [], notes: nil)))
        try await unwrap(await list.getMap(index: 0)).insertText(key: "notes").insert(pos: 0, text: "Roof leaks")
        _ = try await a.startNetwork(options: loopback)
        _ = try await b.startNetwork(options: loopback)
        _ = try await docA.addMember(keyBundle: try b.keyBundle())
        let docB = try await b.join(invite: try await docA.invite())
        try await waitUntil("B catches up") { try await docB.toJson() == docA.toJson() }

        // B observes record 1 only; the subscription exists before the edits.
        let stream = try await docB.changes(path: households(1))
        let observed = Task { () -> [ChangeItem] in
            var items: [ChangeItem] = []
            for await item in stream {
                items.append(item)
                if items.count == 2 { break }
            }
            return items
        }
        let watchdog = Task {
            try? await Task.sleep(nanoseconds: 30_000_000_000)
            observed.cancel()
        }
        let recordB = try await unwrap(try await docB.list(name: "households").getMap(index: 0))
        try await unwrap(try await recordB.getText(key: "notes")).push(text: " (north)")
        let recordA = try await unwrap(try await list.getMap(index: 1))
        try await unwrap(try await recordA.getList(key: "readings")).push(value: .double(value: 7.25))
        try await unwrap(await list.getMap(index: 0)).set(key: "size", value: .int(value: 5))
        try await waitUntil("converged") {
            let (ja, jb) = await (try docA.toJson(), try docB.toJson())
            return ja == jb && ja.contains("(north)") && jb.contains("7.25")
        }
        let items = await observed.value
        watchdog.cancel()
        await assertEqual(items.count, 2)
        guard case .current(let now) = items[0] else { return XCTFail("first item: \(items[0])") }
        await assertEqual(try decode(now), Household(name: "Okafor", size: 2, readings: [], notes: nil))
        guard case .changes(let origin, let changes) = items[1] else { return XCTFail("\(items[1])") }
        await assertEqual(origin, .remote(author: a.authorId()))
        await assertEqual(changes, [
            Change(path: households(1) + [.key(key: "readings")],
                   diff: .listInsert(index: 0, values: ["7.25"])),
        ])

        let expected = Household(name: "Nkosi", size: 5, readings: [1.5, 2], notes: "Roof leaks (north)")
        await assertEqual(try await decode(docB.getJson(path: households(0))), expected)
        await assertEqual(try await decode(docA.getJson(path: households(0))), expected)
        try await a.shutdown()
        try await b.shutdown()
    }

    /// A UTF-16 offset from a Swift `String` lands where the string says.
    func testUtf16InsertAfterAnEmojiLandsWhereTheStringSays() async throws {
        let node = try await Node.open(dataDir: tempDir())
        let text = try await node.createDocument().text(name: "t")
        await assertEqual(text.unit(), .utf16)
        let before = "a😀e\u{301}b"
        try await text.insert(pos: 0, text: before)
        let e = before.unicodeScalars.firstIndex(of: "e")!
        let at = before.utf16.distance(from: before.utf16.startIndex, to: e) // 3
        try await text.insert(pos: UInt32(at), text: "X")
        var expected = before
        expected.insert("X", at: e)
        await assertEqual(try await text.content(), expected)
        await assertEqual(try await text.len(), UInt32(expected.utf16.count))
        await assertThrows("InvalidArgument") { try await text.insert(pos: 2, text: "!") }
        try await text.delete(pos: 1, len: 2)
        await assertEqual(try await text.content(), "aXe\u{301}b")
        try await text.withUnit(unit: .unicode).insert(pos: 1, text: "😀")
        await assertEqual(try await text.content(), "a😀Xe\u{301}b")
    }

    /// Undo of a local edit after a remote edit keeps the remote edit, on both replicas.
    func testUndoAfterARemoteEditKeepsTheRemoteEdit() async throws {
        let loopback = NetworkOptions(bindIp: "127.0.0.1")
        let a = try await Node.open(dataDir: tempDir())
        let b = try await Node.open(dataDir: tempDir())
        let docA = try await a.createDocument()
        _ = try await a.startNetwork(options: loopback)
        _ = try await b.startNetwork(options: loopback)
        _ = try await docA.addMember(keyBundle: try b.keyBundle())
        let docB = try await b.join(invite: try await docA.invite())
        try await docA.text(name: "notes").insert(pos: 0, text: "hello")
        try await waitUntil("B has A's edit") { try await docB.text(name: "notes").content() == "hello" }
        try await docB.text(name: "notes").push(text: " world")
        try await waitUntil("A has B's edit") { try await docA.text(name: "notes").content() == "hello world" }
        await assertTrue(try await docA.canUndo())
        await assertTrue(try await docA.undo())
        await assertEqual(try await docA.text(name: "notes").content(), " world")
        try await waitUntil("B sees the undo") { try await docB.text(name: "notes").content() == " world" }
        await assertTrue(try await docA.redo())
        try await waitUntil("B sees the redo") { try await docB.text(name: "notes").content() == "hello world" }
        try await a.shutdown()
        try await b.shutdown()
    }

    /// History, a view at a version, a diff, a counter, and a snapshot imported as a new
    /// document.
    func testHistorySnapshotsAndCounters() async throws {
        let node = try await Node.open(dataDir: tempDir())
        let doc = try await node.createDocument()
        try await doc.setJson(path: [.key(key: "site")], json: #"{"name":"Well 4","depth":12}"#)
        let v1 = try await doc.currentVersion()
        try await doc.counter(name: "visits").increment(by: 2)
        let v2 = try await doc.currentVersion()
        await assertEqual(try await doc.jsonAt(version: v1), #"{"site":{"depth":12,"name":"Well 4"}}"#)
        await assertEqual(try await doc.diff(from: v1, to: v2),
                       [Change(path: [.key(key: "visits")], diff: .counter(delta: 2))])
        let history = try await doc.history(limit: 10)
        await assertEqual(history.first?.version, v2)
        await assertEqual(history.first?.author, node.authorId())
        let copy = try await node.importSnapshot(snapshot: try doc.exportSnapshot())
        await assertEqual(try await copy.toJson(), try await doc.toJson())
        await assertNotEqual(copy.id(), doc.id())
        await assertThrows("InvalidArgument") {
            try await node.importSnapshot(snapshot: Data(repeating: 1, count: 10))
        }
        guard case .map = try await doc.at(path: [.key(key: "site")]) else { return XCTFail("a map") }
        await assertEqual(try await doc.counter(name: "visits").value(), 2)
    }
}
