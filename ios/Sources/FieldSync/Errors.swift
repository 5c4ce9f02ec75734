// FieldSyncError reads well: `description`, `localizedDescription` and string interpolation give
// the Rust message ("not found: document 3f2a…") instead of the reflected enum case. `code()`
// (generated) is the stable code to branch on across versions.
extension FieldSyncError: CustomStringConvertible {}
