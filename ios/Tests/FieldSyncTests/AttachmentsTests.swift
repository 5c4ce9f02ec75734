// XCTest tests of attachments through the Swift bindings (issue #29, on one device so far):
// a photo added as bytes, its reference kept in the document, read back equal.
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
}
