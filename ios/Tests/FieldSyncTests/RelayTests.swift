// Relay servers through the Swift API (issue #31): the configuration round-trips, bad
// values are refused with InvalidArgument, and two nodes sync with only a relay address for
// each other (a `fieldsync relay` on 127.0.0.1, the CLI named by FIELDSYNC_CLI).
import Foundation
import XCTest
@testable import FieldSync
#if canImport(Glibc)
import Glibc
#endif

final class RelayTests: XCTestCase {
    private var dirs: [URL] = []
    private var relays: [Process] = []

    private func tempDir() -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fieldsync-relay-\(UUID().uuidString)")
        dirs.append(url)
        return url.path
    }

    override func tearDown() {
        // SIGKILL, not terminate(): nothing here waits on the relay's own shutdown.
        for p in relays where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        relays = []
        for d in dirs { try? FileManager.default.removeItem(at: d) }
        dirs = []
        super.tearDown()
    }

    /// Starts `fieldsync relay --open` on 127.0.0.1 and returns its URL, read from the
    /// relay's first line of JSON (its stdout goes to a file, polled with a deadline).
    private func startRelay() throws -> String {
        guard let cli = ProcessInfo.processInfo.environment["FIELDSYNC_CLI"] else {
            throw XCTSkip("FIELDSYNC_CLI is not set (make test-swift sets it)")
        }
        let out = URL(fileURLWithPath: tempDir())
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let log = out.appendingPathComponent("relay.out")
        XCTAssertTrue(FileManager.default.createFile(atPath: log.path, contents: nil))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: cli)
        p.arguments = ["--data", out.appendingPathComponent("data").path, "--json", "relay",
                       "--http", "127.0.0.1:0", "--open"]
        p.standardOutput = try FileHandle(forWritingTo: log)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        relays.append(p)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first,
               let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
               let url = json["url"] as? String {
                return url
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        XCTFail("the relay printed no URL within 30 s")
        throw CancellationError()
    }

    func testTwoNodesSyncKnowingEachOtherOnlyByTheRelay() async throws {
        let url = try startRelay()
        let a = try await Node.open(dataDir: tempDir())
        let b = try await Node.open(dataDir: tempDir())
        let options = NetworkOptions(bindIp: "127.0.0.1", relays: [RelayServer(url: url, token: nil)])
        let doc = try await a.createDocument()
        try await doc.text(name: "notes").push(text: "well 3: dry")
        _ = try await doc.addMember(keyBundle: try await b.keyBundle())
        _ = try await a.startNetwork(options: options)
        _ = try await b.startNetwork(options: options)
        let docB = try await b.registerDocument(document: doc.id())
        // No socket address: B reaches A through the relay.
        try await b.addPeer(peer: PeerAddress(nodeId: a.authorId(), addresses: [], relay: url))
        try await waitUntil("B catches up through the relay", timeout: 60, poll: 0.02) {
            try await docB.toJson() == doc.toJson()
        }
        try await docB.text(name: "notes").push(text: " / checked")
        try await waitUntil("A gets B's edit", timeout: 60, poll: 0.02) { try await doc.toJson() == docB.toJson() }
        let json = try await doc.toJson()
        XCTAssertTrue(json.contains("well 3: dry / checked"), json)
        // The path is recorded when a catch-up session ends, which may be after the edits
        // arrived (they can come by a live push first).
        func peerA() async throws -> PeerSeen? {
            try await docB.syncStatus().peers.first { $0.peer == a.authorId() }
        }
        try await waitUntil("B records the path its session with A took", timeout: 60, poll: 0.02) {
            try await peerA()?.relayed != nil
        }
        let found = try await peerA()
        let peer = try XCTUnwrap(found)
        print("path B -> A: relayed=\(String(describing: peer.relayed)) rtt=\(String(describing: peer.rttMs)) ms")
        try await a.shutdown()
        try await b.shutdown()
    }

    func testRelayConfigurationRoundTripsAndBadValuesAreRefused() async throws {
        // A loopback port nobody listens on: the node keeps trying it, nothing else is
        // contacted.
        let url = "http://127.0.0.1:9"
        let node = try await Node.open(dataDir: tempDir())
        let options = NetworkOptions(
            bindIp: "127.0.0.1",
            relays: [RelayServer(url: url, token: "org-token-0123456789")])
        let info = try await node.startNetwork(options: options)
        XCTAssertEqual(info.relay, url)
        let again = try await node.networkInfo()
        XCTAssertEqual(again.relay, url)
        try await node.stopNetwork()
        for bad in [
            RelayServer(url: "ftp://127.0.0.1:1", token: nil),
            RelayServer(url: "not a url", token: nil),
            RelayServer(url: url, token: "has a space"),
            RelayServer(url: "", token: nil),
        ] {
            await assertThrows("InvalidArgument") {
                try await node.startNetwork(
                    options: NetworkOptions(bindIp: "127.0.0.1", relays: [bad]))
            }
        }
        await assertThrows("InvalidArgument") {
            try await node.addPeer(
                peer: PeerAddress(nodeId: node.authorId(), addresses: [], relay: "nope"))
        }
        try await node.shutdown()
    }
}
