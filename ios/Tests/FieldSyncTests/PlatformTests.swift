// What an iOS app relies on beyond the API itself: no call blocks the main thread, Task
// cancellation reaches the Rust future, connectivity changes rebind the network, a sync status
// stream for the UI.
import Foundation
import XCTest

@testable import FieldSync

/// The loopback port of a node's addresses.
func loopbackPort(_ info: NetworkInfo) -> UInt16? {
    info.addresses.first { $0.hasPrefix("127.0.0.1:") }.flatMap { UInt16($0.split(separator: ":").last!) }
}

/// Counts calls; for the forwarder test.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

final class PlatformTests: XCTestCase {
    private var dirs: [URL] = []

    private func tempDir() -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fieldsync-swift-platform-\(UUID().uuidString)")
        dirs.append(url)
        return url.path
    }

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(at: d) }
        dirs = []
        super.tearDown()
    }

    private let loopback = NetworkOptions(bindIp: "127.0.0.1")

    /// While a 10,000-operation document opens and a dozen calls run, a main-actor heartbeat
    /// (ticking every 2 ms, like a UI's frame) is never held up for more than a few ms: the
    /// calls run on the SDK's threads.
    @MainActor
    func testNoCallBlocksTheMainActorWhileA10kOpDocumentOpens() async throws {
        let dir = tempDir()
        let first = try await Node.open(dataDir: dir)
        let doc = try await first.createDocument()
        let list = try doc.list(name: "readings")
        let t0 = Date()
        for i in 0..<10_000 { try await list.push(value: .int(value: Int64(i))) }
        print("built a 10,000-op document in \(Int(Date().timeIntervalSince(t0) * 1000)) ms")
        try await first.shutdown()

        var worstGap: TimeInterval = 0
        var running = true
        let heartbeat = Task { @MainActor in
            var last = Date()
            while running {
                try? await Task.sleep(nanoseconds: 2_000_000)
                let now = Date()
                worstGap = max(worstGap, now.timeIntervalSince(last) - 0.002)
                last = now
            }
        }
        let tOpen = Date()
        let node = try await Node.open(dataDir: dir)
        let big = try await node.openDocument(id: doc.id())
        async let json = big.toJson()
        async let ids = node.documentIds()
        async let length = big.list(name: "readings").len()
        async let created = node.createDocument()
        async let bundle = node.keyBundle()
        async let version = big.version()
        async let status = big.syncStatus()
        let (j, i, l, _, b, v, s) = try await (json, ids, length, created, bundle, version, status)
        try await node.flush()
        let loadMs = Int(Date().timeIntervalSince(tOpen) * 1000)
        running = false
        await heartbeat.value
        XCTAssertGreaterThan(j.count, 40_000)
        XCTAssertEqual(l, 10_000)
        XCTAssertFalse(i.isEmpty)
        XCTAssertFalse(b.isEmpty)
        XCTAssertEqual(v.count, 1)
        XCTAssertFalse(s.online)
        print("opened and read the 10k-op document in \(loadMs) ms; worst main-actor delay \(Int(worstGap * 1000)) ms")
        XCTAssertLessThan(worstGap, 0.05, "the main actor was held up")
        try await node.shutdown()
    }

    /// A cancelled Task's call ends with `CancellationError` and the Rust work behind it does
    /// not run: the network of a cancelled `startNetwork` never starts.
    func testTaskCancellationReachesTheRustFuture() async throws {
        let node = try await Node.open(dataDir: tempDir())
        let options = loopback
        let start = Task { () async throws -> NetworkInfo in
            withUnsafeCurrentTask { $0?.cancel() }
            return try await node.startNetwork(options: options)
        }
        do {
            _ = try await start.value
            XCTFail("a cancelled startNetwork returned")
        } catch is CancellationError {
        } catch {
            XCTFail("expected CancellationError, got \(error)")
        }
        let online = try await node.isOnline()
        XCTAssertFalse(online, "the cancelled start ran anyway")
        // Blocking work too: the call returns at once.
        let doc = try await node.createDocument()
        let read = Task { () async throws -> String in
            withUnsafeCurrentTask { $0?.cancel() }
            return try await doc.toJson()
        }
        do {
            _ = try await read.value
            XCTFail("a cancelled toJson returned")
        } catch is CancellationError {
        }
        // The node is fine afterwards.
        _ = try await node.startNetwork(options: loopback)
        let nowOnline = try await node.isOnline()
        XCTAssertTrue(nowOnline)
        try await node.shutdown()
    }

    /// The network-change API: A moves to another port (as after Wi-Fi to cellular); B, who
    /// still has A's old address, has A's next edit within 2 s of the call, and A has B's.
    func testNetworkChangedRebindsAndThePeerReachesTheNodeAgainWithin2s() async throws {
        let a = try await Node.open(dataDir: tempDir())
        let b = try await Node.open(dataDir: tempDir())
        let doc = try await a.createDocument()
        try await doc.text(name: "t").push(text: "before")
        _ = try await doc.addMember(keyBundle: try await b.keyBundle())
        let infoA = try await a.startNetwork(options: loopback)
        let infoB = try await b.startNetwork(options: loopback)
        try await a.addPeer(peer: PeerAddress(nodeId: b.authorId(), addresses: infoB.addresses))
        let docB = try await b.join(invite: try await doc.invite())
        try await waitUntil("B catches up", poll: 0.01) { try await docB.toJson() == doc.toJson() }

        let oldPort = try XCTUnwrap(loopbackPort(infoA))
        var newPort: UInt16 = 0
        for p in UInt16(40000)..<UInt16(60000) where p != oldPort && udpPortIsFree(p) {
            newPort = p
            break
        }
        let moved = try await a.networkChanged(options: NetworkOptions(bindIp: "127.0.0.1", port: newPort))
        XCTAssertEqual(loopbackPort(try XCTUnwrap(moved)), newPort)
        let t0 = Date()
        try await doc.text(name: "t").push(text: " after A")
        try await docB.text(name: "t").push(text: " after B")
        try await waitUntil("both edits on both nodes", timeout: 2, poll: 0.01) {
            let (ja, jb) = (try await doc.toJson(), try await docB.toJson())
            return ja == jb && ja.contains("after A") && ja.contains("after B")
        }
        print("after networkChanged both edits were on both nodes in \(Int(Date().timeIntervalSince(t0) * 1000)) ms")
        try await a.stopNetwork()
        let none = try await a.networkChanged()
        XCTAssertNil(none)
        try await a.shutdown()
        try await b.shutdown()
    }

    /// The UI's status line: pending edits while offline, online once the network runs.
    func testSyncStatusStreamReportsPendingEditsAndTheNetwork() async throws {
        let node = try await Node.open(dataDir: tempDir())
        let doc = try await node.createDocument()
        try await doc.text(name: "t").push(text: "offline edit")
        var statuses = doc.syncStatusStream().makeAsyncIterator()
        let first = try await unwrap(await statuses.next())
        XCTAssertFalse(first.online)
        XCTAssertGreaterThan(first.pendingLocalOps, 0)
        XCTAssertNil(first.lastSyncMs)
        _ = try await node.startNetwork(options: loopback)
        let second = try await unwrap(await statuses.next())
        XCTAssertTrue(second.online)
        XCTAssertEqual(second.document, doc.id())
        try await node.shutdown()
        let ended = await statuses.next()
        XCTAssertNil(ended, "the stream ends with the node")
    }

    /// Bursts of connectivity reports make one rebind; the first network and `nil` none.
    func testNetworkChangeForwarderCoalescesReports() async throws {
        let rebinds = Counter()
        let forwarder = NetworkChangeForwarder(settle: 0.05) { rebinds.increment() }
        forwarder.onNetwork("en0:wifi")              // the network the node started on
        try await Task.sleep(nanoseconds: 150_000_000)
        XCTAssertEqual(rebinds.value, 0)
        forwarder.onNetwork(nil)                     // lost
        forwarder.onNetwork("pdp_ip0:cellular")      // burst
        forwarder.onNetwork("pdp_ip0:cellular,utun0:other")
        forwarder.onNetwork("pdp_ip0:cellular,utun0:other")
        try await waitUntil("one rebind after the burst", timeout: 5, poll: 0.01) { rebinds.value == 1 }
        try await Task.sleep(nanoseconds: 150_000_000)
        XCTAssertEqual(rebinds.value, 1)
        forwarder.onNetwork(nil)
        forwarder.onNetwork("pdp_ip0:cellular,utun0:other")  // the same network after sleep
        try await waitUntil("a rebind when it comes back", timeout: 5, poll: 0.01) { rebinds.value == 2 }
    }
}
