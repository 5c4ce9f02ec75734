// XCTest's assertions take synchronous autoclosures; the FieldSync API is async. These take
// async autoclosures: `await assertEqual(try await text.content(), "hello")`.
import XCTest

func assertEqual<T: Equatable>(
    _ a: @autoclosure () async throws -> T, _ b: @autoclosure () async throws -> T,
    _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) async {
    do {
        let (x, y) = (try await a(), try await b())
        XCTAssertEqual(x, y, message, file: file, line: line)
    } catch {
        XCTFail("threw \(error) \(message)", file: file, line: line)
    }
}

func assertNotEqual<T: Equatable>(
    _ a: @autoclosure () async throws -> T, _ b: @autoclosure () async throws -> T,
    _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) async {
    do {
        let (x, y) = (try await a(), try await b())
        XCTAssertNotEqual(x, y, message, file: file, line: line)
    } catch {
        XCTFail("threw \(error) \(message)", file: file, line: line)
    }
}

func assertTrue(
    _ a: @autoclosure () async throws -> Bool, _ message: String = "",
    file: StaticString = #filePath, line: UInt = #line
) async {
    do {
        let x = try await a()
        XCTAssertTrue(x, message, file: file, line: line)
    } catch {
        XCTFail("threw \(error) \(message)", file: file, line: line)
    }
}

func assertFalse(
    _ a: @autoclosure () async throws -> Bool, _ message: String = "",
    file: StaticString = #filePath, line: UInt = #line
) async {
    do {
        let x = try await a()
        XCTAssertFalse(x, message, file: file, line: line)
    } catch {
        XCTFail("threw \(error) \(message)", file: file, line: line)
    }
}

func assertNil<T>(
    _ a: @autoclosure () async throws -> T?, _ message: String = "",
    file: StaticString = #filePath, line: UInt = #line
) async {
    do {
        let x = try await a()
        XCTAssertNil(x, message, file: file, line: line)
    } catch {
        XCTFail("threw \(error) \(message)", file: file, line: line)
    }
}

func assertNotNil<T>(
    _ a: @autoclosure () async throws -> T?, _ message: String = "",
    file: StaticString = #filePath, line: UInt = #line
) async {
    do {
        let x = try await a()
        XCTAssertNotNil(x, message, file: file, line: line)
    } catch {
        XCTFail("threw \(error) \(message)", file: file, line: line)
    }
}

/// `XCTUnwrap` for an async expression.
func unwrap<T>(
    _ a: @autoclosure () async throws -> T?, _ message: String = "",
    file: StaticString = #filePath, line: UInt = #line
) async throws -> T {
    let x = try await a()
    return try XCTUnwrap(x, message, file: file, line: line)
}

/// Polls `check` every `poll` seconds until it holds; fails the test (without throwing) after
/// `timeout` seconds.
func waitUntil(
    _ what: String, timeout: TimeInterval = 30, poll: TimeInterval = 0.05,
    file: StaticString = #filePath, line: UInt = #line,
    _ check: () async throws -> Bool
) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while try await !check() {
        if Date() > deadline {
            XCTFail("timed out: \(what)", file: file, line: line)
            return
        }
        try await Task.sleep(nanoseconds: UInt64(poll * 1e9))
    }
}
