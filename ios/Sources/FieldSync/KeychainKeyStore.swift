// The iOS / macOS Keychain adapter. Apple platforms only: Linux (where the tests run) has no
// Security framework, so this file compiles to nothing there.
#if canImport(Security)
import Foundation
import Security

/// A `DeviceKeyStore` backed by the Keychain: FieldSync's two 32-byte keys (the device's
/// signing key and the store key that seals the database at rest) are generic-password items
/// with `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`: readable after the first unlock
/// following a boot (so background sync works), never synced to iCloud Keychain and never
/// restored onto another device from a backup. A backup restored elsewhere therefore carries
/// no key, and its database (exclude it from backups too, see the package README) cannot be
/// opened.
///
/// ```swift
/// let keys = KeychainKeyStore()
/// let node = try Node.open(dataDir: dir.path, keyStore: keys)
/// ```
///
/// - Parameter service: the Keychain service of the items; one per FieldSync node of the app.
public final class KeychainKeyStore: DeviceKeyStore, @unchecked Sendable {
    private let service: String

    public init(service: String = "org.fieldsync.keys") {
        self.service = service
    }

    public func load() throws -> Data? { try read(account: "device") }

    public func save(key: Data) throws { try write(account: "device", key: key) }

    public func loadStoreKey() throws -> Data? { try read(account: "store") }

    public func saveStoreKey(key: Data) throws { try write(account: "store", key: key) }

    private func base(_ account: String) -> [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
        ]
    }

    private func read(account: String) throws -> Data? {
        var query = base(account)
        query[kSecReturnData as String] = true
        query[kSecMatchLimit as String] = kSecMatchLimitOne
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        switch status {
        case errSecSuccess: return item as? Data
        case errSecItemNotFound: return nil
        default: throw FieldSyncError.crypto(reason: "Keychain: reading \(account) failed (\(status))")
        }
    }

    /// Adds the item, or replaces its data in one `SecItemUpdate` (atomic for the Keychain).
    private func write(account: String, key: Data) throws {
        var add = base(account)
        add[kSecValueData as String] = key
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        var status = SecItemAdd(add as CFDictionary, nil)
        if status == errSecDuplicateItem {
            let update: [String: Any] = [
                kSecValueData as String: key,
                kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
            ]
            status = SecItemUpdate(base(account) as CFDictionary, update as CFDictionary)
        }
        guard status == errSecSuccess else {
            throw FieldSyncError.crypto(reason: "Keychain: saving \(account) failed (\(status))")
        }
    }
}

/// The data directory FieldSync should use on iOS: `fieldsync` in Application Support,
/// created if needed and marked `isExcludedFromBackup`, so neither iCloud nor a computer
/// backup carries the database to another device (a restored copy would be a second device
/// with the same identity, see the event `identityCloned`).
public func fieldSyncDataDirectory() throws -> URL {
    var url = try FileManager.default.url(
        for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true
    ).appendingPathComponent("fieldsync", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    var values = URLResourceValues()
    values.isExcludedFromBackup = true
    try url.setResourceValues(values)
    return url
}
#endif
