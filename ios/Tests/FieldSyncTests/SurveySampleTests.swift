// Runs the survey sample (ios/Samples/Survey/Survey.swift) as it is shipped.
import Foundation
import SurveySample
import XCTest

final class SurveySampleTests: XCTestCase {
    func testTheSurveySampleRunsAndBothDevicesAgree() async throws {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("fieldsync-swift-survey-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let result = try await runSurvey(
            supervisorDir: root.appendingPathComponent("a").path,
            enumeratorDir: root.appendingPathComponent("b").path)
        XCTAssertEqual(result.supervisorJson, result.enumeratorJson)
        XCTAssertTrue(result.supervisorJson.contains("Roof leaks"), result.supervisorJson)
        XCTAssertTrue(result.supervisorJson.contains("Otieno"))
        XCTAssertEqual(result.changesSeen, 2)
        XCTAssertTrue(
            result.log.contains { $0.hasPrefix("offline: online=false, pending=") && !$0.hasSuffix("=0") },
            "\(result.log)")
    }
}
