// XCTest tests of history cost through the Swift bindings (issue #28): coalesced edits, a
// snapshot published and taken by a joiner over QUIC, compaction under a retention policy.
import Foundation
import XCTest
@testable import FieldSync

final class HistoryTests: XCTestCase {
    private var dirs: [URL] = []

    private func tempDir() -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fieldsync-history-\(UUID().uuidString)")
        dirs.append(url)
        return url.path
    }

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(at: d) }
        dirs = []
        super.tearDown()
    }

    /// Edits in a coalescing window become one operation once flushed; a published snapshot
    /// lets compaction prune what it covers; a device joining over QUIC converges.
    func testCoalescedEditsSnapshotCompactionAndAJoin() async throws {
        let loopback = NetworkOptions(bindIp: "127.0.0.1")
        let options = NodeOptions(coalesceWindowMs: 60_000, publishSnapshotEvery: 0, retention: .keepAll)
        let a = try await Node.open(dataDir: tempDir(), options: options)
        let b = try await Node.open(dataDir: tempDir())
        let doc = try await a.createDocument()
        let text = try doc.text(name: "t")
        for _ in 0..<200 { try await text.push(text: "x") }
        let open = try await doc.opCount()
        XCTAssertEqual(open, 0, "200 edits in an open window: nothing signed")
        try await a.flush()
        let flushed = try await doc.opCount()
        XCTAssertEqual(flushed, 1, "one operation for the window")
        _ = try await doc.addMember(keyBundle: try await b.keyBundle())
        let seq = try await doc.publishSnapshot()
        XCTAssertEqual(seq, 0)
        try await text.push(text: "y")
        try await a.flush()
        let pruned = try await doc.compact(retention: .keepSinceSnapshot)
        XCTAssertEqual(pruned, 1, "the covered operation is pruned")
        try await a.reclaimSpace()
        _ = try await a.startNetwork(options: loopback)
        _ = try await b.startNetwork(options: loopback)
        let docB = try await b.join(invite: try await doc.invite())
        try await waitUntil("B joins by the snapshot") { try await docB.toJson() == doc.toJson() }
        let value = try await docB.text(name: "t").content()
        XCTAssertEqual(value.count, 201)
        try await a.shutdown()
        try await b.shutdown()
    }
}
