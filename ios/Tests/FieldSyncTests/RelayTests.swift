// Relay servers through the Swift API (issue #31): the configuration round-trips and bad
// values are refused with InvalidArgument.
import Foundation
import XCTest
@testable import FieldSync

final class RelayTests: XCTestCase {
    private var dirs: [URL] = []

    private func tempDir() -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fieldsync-relay-\(UUID().uuidString)")
        dirs.append(url)
        return url.path
    }

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(at: d) }
        dirs = []
        super.tearDown()
    }

    func testRelayConfigurationRoundTripsAndBadValuesAreRefused() async throws {
        // A loopback port nobody listens on: the node keeps trying it, nothing else is
        // contacted. (Syncing through a running `fieldsync relay` is tested in Kotlin and in
        // cli/tests/relay.rs.)
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
