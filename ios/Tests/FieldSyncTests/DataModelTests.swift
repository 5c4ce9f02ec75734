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

    private func waitUntil(_ what: String, timeout: TimeInterval = 30, _ check: () throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !check() {
            if Date() > deadline {
                XCTFail("timed out: \(what)")
                return
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
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
        let a = try Node.open(dataDir: tempDir())
        let b = try Node.open(dataDir: tempDir())
        let docA = try a.createDocument()
        let list = try docA.list(name: "households")
        try list.pushJson(json: json(Household(name: "Nkosi", size: 4, readings: [1.5, 2], notes: nil)))
        try list.pushJson(json: json(Household(name: "Okafor", size: 2, readings: [], notes: nil)))
        try XCTUnwrap(list.getMap(index: 0)).insertText(key: "notes").insert(pos: 0, text: "Roof leaks")
        _ = try await a.startNetwork(options: loopback)
        _ = try await b.startNetwork(options: loopback)
        _ = try docA.addMember(keyBundle: try b.keyBundle())
        let docB = try await b.join(invite: try await docA.invite())
        try await waitUntil("B catches up") { try docB.toJson() == docA.toJson() }

        // B observes record 1 only; the subscription exists before the edits.
        let stream = try docB.changes(path: households(1))
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
        try XCTUnwrap(XCTUnwrap(docB.list(name: "households").getMap(index: 0)).getText(key: "notes"))
            .push(text: " (north)")
        try XCTUnwrap(XCTUnwrap(list.getMap(index: 1)).getList(key: "readings")).push(value: .double(value: 7.25))
        try XCTUnwrap(list.getMap(index: 0)).set(key: "size", value: .int(value: 5))
        try await waitUntil("converged") {
            let (ja, jb) = (try docA.toJson(), try docB.toJson())
            return ja == jb && ja.contains("(north)") && jb.contains("7.25")
        }
        let items = try await observed.value
        watchdog.cancel()
        XCTAssertEqual(items.count, 2)
        guard case .current(let now) = items[0] else { return XCTFail("first item: \(items[0])") }
        XCTAssertEqual(try decode(now), Household(name: "Okafor", size: 2, readings: [], notes: nil))
        guard case .changes(let origin, let changes) = items[1] else { return XCTFail("\(items[1])") }
        XCTAssertEqual(origin, .remote(author: a.authorId()))
        XCTAssertEqual(changes, [
            Change(path: households(1) + [.key(key: "readings")],
                   diff: .listInsert(index: 0, values: ["7.25"])),
        ])

        let expected = Household(name: "Nkosi", size: 5, readings: [1.5, 2], notes: "Roof leaks (north)")
        XCTAssertEqual(try decode(docB.getJson(path: households(0))), expected)
        XCTAssertEqual(try decode(docA.getJson(path: households(0))), expected)
        try await a.shutdown()
        try await b.shutdown()
    }

    /// A UTF-16 offset from a Swift `String` lands where the string says.
    func testUtf16InsertAfterAnEmojiLandsWhereTheStringSays() throws {
        let node = try Node.open(dataDir: tempDir())
        let text = try node.createDocument().text(name: "t")
        XCTAssertEqual(text.unit(), .utf16)
        let before = "a😀e\u{301}b"
        try text.insert(pos: 0, text: before)
        let e = before.unicodeScalars.firstIndex(of: "e")!
        let at = before.utf16.distance(from: before.utf16.startIndex, to: e) // 3
        try text.insert(pos: UInt32(at), text: "X")
        var expected = before
        expected.insert("X", at: e)
        XCTAssertEqual(try text.content(), expected)
        XCTAssertEqual(try text.len(), UInt32(expected.utf16.count))
        XCTAssertThrowsError(try text.insert(pos: 2, text: "!")) { XCTAssertEqual(kind($0), "InvalidArgument") }
        try text.delete(pos: 1, len: 2)
        XCTAssertEqual(try text.content(), "aXe\u{301}b")
        try text.withUnit(unit: .unicode).insert(pos: 1, text: "😀")
        XCTAssertEqual(try text.content(), "a😀Xe\u{301}b")
    }

    /// Undo of a local edit after a remote edit keeps the remote edit, on both replicas.
    func testUndoAfterARemoteEditKeepsTheRemoteEdit() async throws {
        let loopback = NetworkOptions(bindIp: "127.0.0.1")
        let a = try Node.open(dataDir: tempDir())
        let b = try Node.open(dataDir: tempDir())
        let docA = try a.createDocument()
        _ = try await a.startNetwork(options: loopback)
        _ = try await b.startNetwork(options: loopback)
        _ = try docA.addMember(keyBundle: try b.keyBundle())
        let docB = try await b.join(invite: try await docA.invite())
        try docA.text(name: "notes").insert(pos: 0, text: "hello")
        try await waitUntil("B has A's edit") { try docB.text(name: "notes").content() == "hello" }
        try docB.text(name: "notes").push(text: " world")
        try await waitUntil("A has B's edit") { try docA.text(name: "notes").content() == "hello world" }
        XCTAssertTrue(try docA.canUndo())
        XCTAssertTrue(try docA.undo())
        XCTAssertEqual(try docA.text(name: "notes").content(), " world")
        try await waitUntil("B sees the undo") { try docB.text(name: "notes").content() == " world" }
        XCTAssertTrue(try docA.redo())
        try await waitUntil("B sees the redo") { try docB.text(name: "notes").content() == "hello world" }
        try await a.shutdown()
        try await b.shutdown()
    }

    /// History, a view at a version, a diff, a counter, and a snapshot imported as a new
    /// document.
    func testHistorySnapshotsAndCounters() throws {
        let node = try Node.open(dataDir: tempDir())
        let doc = try node.createDocument()
        try doc.setJson(path: [.key(key: "site")], json: #"{"name":"Well 4","depth":12}"#)
        let v1 = try doc.currentVersion()
        try doc.counter(name: "visits").increment(by: 2)
        let v2 = try doc.currentVersion()
        XCTAssertEqual(try doc.jsonAt(version: v1), #"{"site":{"depth":12,"name":"Well 4"}}"#)
        XCTAssertEqual(try doc.diff(from: v1, to: v2),
                       [Change(path: [.key(key: "visits")], diff: .counter(delta: 2))])
        let history = try doc.history(limit: 10)
        XCTAssertEqual(history.first?.version, v2)
        XCTAssertEqual(history.first?.author, node.authorId())
        let copy = try node.importSnapshot(snapshot: try doc.exportSnapshot())
        XCTAssertEqual(try copy.toJson(), try doc.toJson())
        XCTAssertNotEqual(copy.id(), doc.id())
        XCTAssertThrowsError(try node.importSnapshot(snapshot: Data(repeating: 1, count: 10))) {
            XCTAssertEqual(kind($0), "InvalidArgument")
        }
        guard case .map = try doc.at(path: [.key(key: "site")]) else { return XCTFail("a map") }
        XCTAssertEqual(try doc.counter(name: "visits").value(), 2)
    }
}
