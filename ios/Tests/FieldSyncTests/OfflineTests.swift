// XCTest tests of sync without a network through the Swift bindings (issue #30): a bundle
// round trip with a tampered copy refused, QR-sized chunks read shuffled with duplicates,
// and two nodes syncing over a link implemented here in Swift (a pipe of actors): no QUIC,
// no sockets.
import Foundation
import XCTest
@testable import FieldSync

/// One direction of an in-memory pipe: pushes wake a waiting pop, in order.
actor PipeQueue {
    private var items: [Data] = []
    private var waiters: [CheckedContinuation<Data?, Never>] = []

    func push(_ data: Data) {
        if waiters.isEmpty {
            items.append(data)
        } else {
            waiters.removeFirst().resume(returning: data)
        }
    }

    func pop() async -> Data? {
        if !items.isEmpty { return items.removeFirst() }
        return await withCheckedContinuation { waiters.append($0) }
    }
}

/// One end of an in-memory link.
final class PipeLink: SyncLink, @unchecked Sendable {
    private let inbox: PipeQueue
    private let outbox: PipeQueue

    init(inbox: PipeQueue, outbox: PipeQueue) {
        self.inbox = inbox
        self.outbox = outbox
    }

    static func pair() -> (PipeLink, PipeLink) {
        let ab = PipeQueue()
        let ba = PipeQueue()
        return (PipeLink(inbox: ba, outbox: ab), PipeLink(inbox: ab, outbox: ba))
    }

    func send(bytes: Data) async throws {
        precondition(bytes.count <= Int(mtu()), "a send within the MTU")
        await outbox.push(bytes)
    }

    func receive() async throws -> Data? {
        await inbox.pop()
    }

    func mtu() -> UInt32 { 1024 }
}

final class OfflineTests: XCTestCase {
    private var dirs: [URL] = []

    private func tempDir() -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fieldsync-offline-\(UUID().uuidString)")
        dirs.append(url)
        return url.path
    }

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(at: d) }
        dirs = []
        super.tearDown()
    }

    func testABundleRoundTripWithNoNetworkAndATamperedCopyRefused() async throws {
        let a = try await Node.open(dataDir: tempDir())
        let b = try await Node.open(dataDir: tempDir())
        let doc = try await a.createDocument()
        _ = try await doc.addMember(keyBundle: try await b.keyBundle())
        try await doc.text(name: "notes").push(text: "well 3: dry")
        let bundle = try await a.exportBundle(document: doc.id(), request: nil)
        XCTAssertGreaterThanOrEqual(bundle.operations, 3)
        var tampered = bundle.bytes
        tampered[tampered.count / 2] ^= 1
        await assertThrows("InvalidArgument") { try await b.importBundle(bundle: tampered) }
        let none = try await b.documentIds()
        XCTAssertTrue(none.isEmpty, "nothing applied")
        let imported = try await b.importBundle(bundle: bundle.bytes)
        XCTAssertEqual(imported.document, doc.id())
        XCTAssertEqual(imported.exporter, a.authorId())
        let docB = try await b.openDocument(id: doc.id())
        let (ja, jb) = (try await doc.toJson(), try await docB.toJson())
        XCTAssertEqual(ja, jb)
        // B answers with only what A lacks.
        try await docB.text(name: "notes").push(text: " / checked")
        let request = try await a.bundleRequest(document: doc.id())
        let reply = try await b.exportBundle(document: doc.id(), request: request)
        XCTAssertEqual(reply.operations, 1)
        _ = try await a.importBundle(bundle: reply.bytes)
        let (ja2, jb2) = (try await doc.toJson(), try await docB.toJson())
        XCTAssertEqual(ja2, jb2)
        try await a.shutdown()
        try await b.shutdown()
    }

    func testQrChunksReadShuffledWithDuplicatesMakeTheBundle() async throws {
        let a = try await Node.open(dataDir: tempDir())
        let b = try await Node.open(dataDir: tempDir())
        let doc = try await a.createDocument()
        _ = try await doc.addMember(keyBundle: try await b.keyBundle())
        let text = try doc.text(name: "readings")
        for i in 0..<100 { try await text.push(text: "reading \(i); ") }
        let bundle = try await a.exportBundle(document: doc.id(), request: nil)
        let chunks = try bundleChunks(bundle: bundle.bytes, chunkBytes: 2048)
        XCTAssertGreaterThan(chunks.count, 2)
        XCTAssertTrue(chunks.allSatisfy { $0.count <= 2048 })
        var order = chunks + chunks.enumerated().filter { $0.offset % 2 == 0 }.map { $0.element }
        order.reverse()
        order.swapAt(0, order.count / 2)
        let assembler = BundleChunks()
        var whole: Data?
        for chunk in order {
            if let done = try assembler.add(chunk: chunk) { whole = done }
        }
        XCTAssertEqual(assembler.total(), UInt32(chunks.count))
        XCTAssertEqual(assembler.received(), UInt32(chunks.count))
        XCTAssertEqual(whole, bundle.bytes)
        await assertThrows("InvalidArgument") { try BundleChunks().add(chunk: Data([1, 2, 3])) }
        _ = try await b.importBundle(bundle: whole!)
        let docB = try await b.openDocument(id: doc.id())
        let (ja, jb) = (try await doc.toJson(), try await docB.toJson())
        XCTAssertEqual(ja, jb)
        try await a.shutdown()
        try await b.shutdown()
    }

    /// Two nodes sync only through a pipe implemented in Swift, both ways.
    func testTwoNodesSyncOverALinkImplementedInSwift() async throws {
        let a = try await Node.open(dataDir: tempDir())
        let b = try await Node.open(dataDir: tempDir())
        let doc = try await a.createDocument()
        _ = try await doc.addMember(keyBundle: try await b.keyBundle())
        let text = try doc.text(name: "log")
        for i in 0..<200 { try await text.push(text: "entry \(i); ") }
        let docB = try await b.registerDocument(document: doc.id())
        func sync() async throws -> (LinkReport, LinkReport) {
            let (la, lb) = PipeLink.pair()
            async let ra = a.syncOverLink(link: la, role: .initiator)
            async let rb = b.syncOverLink(link: lb, role: .responder)
            return (try await ra, try await rb)
        }
        let (ra, rb) = try await sync()
        XCTAssertEqual(ra.peer, b.authorId())
        XCTAssertEqual(rb.peer, a.authorId())
        XCTAssertEqual(ra.documents, 1)
        XCTAssertGreaterThanOrEqual(rb.receivedOps, 200)
        let (ja, jb) = (try await doc.toJson(), try await docB.toJson())
        XCTAssertEqual(ja, jb)
        // And back: B's edit reaches A over a new link; only that edit travels.
        try await docB.text(name: "log").push(text: "B was here")
        let (ra2, _) = try await sync()
        XCTAssertEqual(ra2.receivedOps, 1)
        let json = try await doc.toJson()
        XCTAssertTrue(json.contains("B was here"))
        // Two initiators refuse each other.
        let (l1, l2) = PipeLink.pair()
        let t1 = Task { try await a.syncOverLink(link: l1, role: .initiator) }
        let t2 = Task { try await b.syncOverLink(link: l2, role: .initiator) }
        await assertThrows("Network") { try await t1.value }
        await assertThrows("Network") { try await t2.value }
        try await a.shutdown()
        try await b.shutdown()
    }
}
