// The survey sample: two field devices, a supervisor and an enumerator, share a household
// survey. Open, create, invite/join, edit, observe, go offline, sync.
//
// Plain Swift on the package's public API, so the CI compiles and runs it on Linux (target
// `SurveySample`, run by `SurveySampleTests`); in an app the nodes live in a model object and
// the streams are iterated in `.task {}`. The README snippets are excerpts of this file
// (checked by scripts/check-snippets.pl).
import FieldSync
import Foundation

/// What the two devices ended with.
public struct SurveyResult: Sendable {
    public let supervisorJson: String
    public let enumeratorJson: String
    public let changesSeen: Int
    public let log: [String]
}

/// A household record, mapped with `Codable` through the JSON API.
struct Household: Codable, Equatable {
    var name: String
    var size: Int
    var readings: [Double]
    var notes: String?
}

enum SurveyError: Error { case timedOut(String) }

/// Runs the whole story with two nodes in `supervisorDir` and `enumeratorDir`, both on
/// 127.0.0.1 (on phones: leave `bindIp` nil to bind every interface and find peers on the LAN).
public func runSurvey(supervisorDir: String, enumeratorDir: String) async throws -> SurveyResult {
    var log: [String] = []
    let network = NetworkOptions(bindIp: "127.0.0.1")

    // Open and create: the supervisor starts the survey.
    let supervisor = try await Node.open(dataDir: supervisorDir)
    let enumerator = try await Node.open(dataDir: enumeratorDir)
    let survey = try await supervisor.createDocument()
    let households = try survey.list(name: "households")
    let record = Household(name: "Nkosi", size: 4, readings: [1.5], notes: nil)
    try await households.pushJson(json: String(decoding: try JSONEncoder().encode(record), as: UTF8.self))
    _ = try await supervisor.startNetwork(options: network)
    _ = try await enumerator.startNetwork(options: network)

    // Invite and join: the enumerator's key bundle reaches the supervisor (a QR code), the
    // invite goes back the same way.
    _ = try await survey.addMember(keyBundle: try await enumerator.keyBundle())
    let invite = try await survey.invite()
    let joined = try await enumerator.join(invite: invite)
    try await awaitJson(joined) { $0.contains("Nkosi") }
    log.append("enumerator joined: \(try await joined.toJson())")

    // Observe one record: its value now, then its changes only. (A view iterates
    // `try await survey.changes(path: path)`; here the subscription is made first so that no
    // change can slip in before it.)
    let path: [PathSegment] = [.key(key: "households"), .index(index: 0)]
    let subscription = try await survey.observePath(path: path)
    let observed = Task { () -> [ChangeItem] in
        var items: [ChangeItem] = []
        for await item in subscription.asStream() {
            items.append(item)
            if items.count == 2 { break }
        }
        return items
    }

    // Edit: the enumerator adds notes to the record, as a collaborative text.
    guard let joinedRecord = try await joined.list(name: "households").getMap(index: 0) else {
        throw SurveyError.timedOut("the record on the enumerator")
    }
    try await joinedRecord.insertText(key: "notes").insert(pos: 0, text: "Roof leaks")
    let seen = await observed.value
    log.append("supervisor observed \(seen.count) items")
    let onSupervisor = try JSONDecoder().decode(
        Household.self, from: Data((try await survey.getJson(path: path) ?? "{}").utf8))
    log.append("record on the supervisor: \(onSupervisor)")

    // Go offline: the enumerator keeps working; edits wait in the outbox.
    try await enumerator.stopNetwork()
    try await joined.list(name: "households").pushJson(json: #"{"name":"Otieno","size":2,"readings":[]}"#)
    var statuses = joined.syncStatusStream().makeAsyncIterator()
    if let offline = await statuses.next() {
        log.append("offline: online=\(offline.online), pending=\(offline.pendingLocalOps)")
    }

    // Sync: back online, the offline edit reaches the supervisor by itself.
    _ = try await enumerator.startNetwork(options: network)
    try await awaitJson(survey) { $0.contains("Otieno") }
    let target = try await survey.toJson()
    try await awaitJson(joined) { $0 == target }
    log.append("in sync: \(target)")

    let result = SurveyResult(
        supervisorJson: try await survey.toJson(), enumeratorJson: try await joined.toJson(),
        changesSeen: seen.count, log: log)
    try await enumerator.shutdown()
    try await supervisor.shutdown()
    return result
}

/// Waits (up to 30 s) until the document's JSON satisfies `ok`, woken by its changes.
func awaitJson(_ document: Document, _ ok: @escaping @Sendable (String) -> Bool) async throws {
    let changes = try await document.changes()
    let wait = Task {
        for await _ in changes where ok((try? await document.toJson()) ?? "") { return true }
        return false
    }
    let timeout = Task {
        try await Task.sleep(nanoseconds: 30_000_000_000)
        wait.cancel()
    }
    defer { timeout.cancel() }
    guard await wait.value else { throw SurveyError.timedOut("document JSON") }
}
