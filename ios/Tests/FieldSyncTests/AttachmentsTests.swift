// XCTest tests of attachments through the Swift bindings (issue #29): a photo added as
// bytes, its reference kept in the document, read back equal, fetched by another device over
// QUIC with progress events, fetched unasked by policy, and collected once unreferenced.
import Foundation
import XCTest
@testable import FieldSync

final class AttachmentsTests: XCTestCase {
    private var dirs: [URL] = []

    private func tempDir() -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fieldsync-attach-\(UUID().uuidString)")
        dirs.append(url)
        return url.path
    }

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(at: d) }
        dirs = []
        super.tearDown()
    }

    func testAPhotoAddedAsBytesReadsBackEqual() async throws {
        let node = try await Node.open(dataDir: tempDir())
        let doc = try await node.createDocument()
        let photo = Data((0..<700_000).map { UInt8($0 * 31 % 251) })
        let reference = try await doc.addAttachment(bytes: photo, mediaType: "image/jpeg")
        XCTAssertTrue(reference.hasPrefix("fsatt1:"))
        try await doc.map(name: "survey").set(key: "photo", value: .string(value: reference))
        let back = try await node.readAttachment(reference: reference)
        XCTAssertEqual(back, photo)
        await assertThrows("InvalidArgument") {
            try await node.readAttachment(reference: "not a reference")
        }
        let other = try await Node.open(dataDir: tempDir())
        await assertThrows("NotFound") {
            try await other.readAttachment(reference: reference)
        }
        try await other.shutdown()
        try await node.shutdown()
    }

    /// B reads the reference from the document, fetches the photo from A and sees progress.
    func testAPhotoFetchedByAnotherDeviceWithProgress() async throws {
        let loopback = NetworkOptions(bindIp: "127.0.0.1")
        let a = try await Node.open(dataDir: tempDir())
        let b = try await Node.open(dataDir: tempDir())
        let doc = try await a.createDocument()
        let photo = Data((0..<1_500_000).map { UInt8($0 * 7 % 253) })
        let added = try await doc.addAttachment(bytes: photo, mediaType: "image/jpeg")
        try await doc.map(name: "survey").set(key: "photo", value: .string(value: added))
        _ = try await a.startNetwork(options: loopback)
        _ = try await b.startNetwork(options: loopback)
        _ = try await doc.addMember(keyBundle: try await b.keyBundle())
        let docB = try await b.join(invite: try await doc.invite())
        let deadline = Date().addingTimeInterval(30)
        while try await docB.toJson() != doc.toJson() {
            if Date() > deadline { return XCTFail("B never caught up") }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        guard case .string(let reference)? = try await docB.map(name: "survey").get(key: "photo") else {
            return XCTFail("the reference is a string")
        }
        let sub = b.subscribe()
        let progress = Task { () -> ([UInt64], Bool, Bool) in
            var seen: [UInt64] = []
            var started = false
            while let event = await sub.next() {
                if case .attachmentFetchStarted = event { started = true }
                if case .attachmentProgress(_, _, let bytes, _) = event { seen.append(bytes) }
                if case .attachmentFetchEnded(_, _, let complete, _) = event {
                    return (seen, started, complete)
                }
            }
            return (seen, started, false)
        }
        let fetched = try await b.fetchAttachment(document: docB.id(), reference: reference)
        XCTAssertTrue(fetched.complete)
        let (seen, started, ended) = await progress.value
        XCTAssertTrue(started, "a start event came first")
        XCTAssertTrue(ended, "the end event says complete")
        sub.cancel()
        XCTAssertGreaterThanOrEqual(seen.count, 2, "progress in steps: \(seen)")
        XCTAssertEqual(seen.sorted(), seen)
        let back = try await b.readAttachment(reference: reference)
        XCTAssertEqual(back, photo)
        try await a.shutdown()
        try await b.shutdown()
    }

    /// With `AttachmentPolicy.always`, B holds the photo without asking; once the reference
    /// is gone from the document, `collectAttachments` deletes it (no grace period here).
    func testAPolicyFetchesUnaskedAndCollectionDeletesWhatIsNoLongerReferenced() async throws {
        let loopback = NetworkOptions(bindIp: "127.0.0.1")
        let a = try await Node.open(dataDir: tempDir())
        let b = try await Node.open(dataDir: tempDir(), options: NodeOptions(attachmentGraceSecs: 0))
        try b.setAttachmentPolicy(policy: .always)
        try b.setMetered(metered: false)
        let doc = try await a.createDocument()
        _ = try await a.startNetwork(options: loopback)
        _ = try await b.startNetwork(options: loopback)
        _ = try await doc.addMember(keyBundle: try await b.keyBundle())
        let docB = try await b.join(invite: try await doc.invite())
        let photo = Data((0..<400_000).map { UInt8($0 * 13 % 241) })
        let reference = try await doc.addAttachment(bytes: photo, mediaType: "image/jpeg")
        try await doc.map(name: "survey").set(key: "photo", value: .string(value: reference))
        let deadline = Date().addingTimeInterval(30)
        while true {
            if let held = try? await b.readAttachment(reference: reference) {
                XCTAssertEqual(held, photo)
                break
            }
            if Date() > deadline { return XCTFail("never fetched by policy") }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        try await doc.map(name: "survey").delete(key: "photo")
        while try await docB.toJson() != doc.toJson() {
            if Date() > deadline { return XCTFail("B never saw the removal") }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        let swept = try await b.collectAttachments()
        XCTAssertEqual(swept.unreferenced, 1)
        XCTAssertGreaterThanOrEqual(swept.freedBytes, 400_000)
        await assertThrows("NotFound") {
            try await b.readAttachment(reference: reference)
        }
        try await a.shutdown()
        try await b.shutdown()
    }
}
