// Android-only adapter (uses android.* APIs): kept out of src/main/kotlin so that the JVM test
// build (scripts/kotlin-test.sh, kotlinc without the Android SDK) never needs it.
package org.fieldsync

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import java.io.File
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * A [DeviceKeyStore] backed by the Android Keystore: FieldSync's two 32-byte keys (the
 * device's signing key and the store key that seals the database at rest) are kept wrapped
 * by a non-exportable AES-256-GCM key that never leaves the Keystore (hardware-backed where
 * the phone has it). The wrapped keys live in files under [Context.getNoBackupFilesDir],
 * which Android never copies into cloud backups or device-to-device transfers: a backup
 * restored onto another phone carries neither the keys nor (if the data directory is also
 * excluded, see the package README) the database.
 *
 * ```kotlin
 * val keys = AndroidKeystoreKeyStore(context)
 * val node = Node.open(File(context.noBackupFilesDir, "fieldsync").path, keys)
 * ```
 *
 * Losing the Keystore key (the user clears the app's data, or a factory reset) makes the
 * database unreadable: `Node.open` fails with `FieldSyncException.WrongKey` or creates a new
 * identity. That is the point: the data of a lost phone stays sealed.
 *
 * @param alias Keystore alias of the wrapping key; one per FieldSync node of the app.
 */
class AndroidKeystoreKeyStore(
    context: Context,
    private val alias: String = "org.fieldsync.keys",
) : DeviceKeyStore {
    private val dir = File(context.noBackupFilesDir, "fieldsync-keys").apply { mkdirs() }

    override fun load(): ByteArray? = read(File(dir, "$alias.device"))

    override fun save(key: ByteArray) = write(File(dir, "$alias.device"), key)

    override fun loadStoreKey(): ByteArray? = read(File(dir, "$alias.store"))

    override fun saveStoreKey(key: ByteArray) = write(File(dir, "$alias.store"), key)

    /** The wrapping key, created in the Keystore on first use. */
    private fun wrappingKey(): SecretKey {
        val keyStore = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }
        (keyStore.getKey(alias, null) as? SecretKey)?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore")
        generator.init(
            KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    private fun read(file: File): ByteArray? {
        if (!file.exists()) return null
        try {
            val bytes = file.readBytes()
            val cipher = Cipher.getInstance("AES/GCM/NoPadding")
            cipher.init(Cipher.DECRYPT_MODE, wrappingKey(), GCMParameterSpec(128, bytes, 0, 12))
            cipher.updateAAD(file.name.toByteArray())
            return cipher.doFinal(bytes, 12, bytes.size - 12)
        } catch (e: Exception) {
            throw FieldSyncException.Crypto("Android Keystore: cannot unwrap ${file.name}: $e")
        }
    }

    /** Wraps [key] and replaces [file] atomically (a temporary file renamed over it). */
    private fun write(file: File, key: ByteArray) {
        try {
            val cipher = Cipher.getInstance("AES/GCM/NoPadding")
            cipher.init(Cipher.ENCRYPT_MODE, wrappingKey())
            cipher.updateAAD(file.name.toByteArray())
            val wrapped = cipher.iv + cipher.doFinal(key)
            val tmp = File(dir, "${file.name}.tmp")
            tmp.outputStream().use { out ->
                out.write(wrapped)
                out.fd.sync()
            }
            if (!tmp.renameTo(file)) throw java.io.IOException("rename to ${file.name} failed")
        } catch (e: FieldSyncException) {
            throw e
        } catch (e: Exception) {
            throw FieldSyncException.Crypto("Android Keystore: cannot save ${file.name}: $e")
        }
    }
}

/**
 * The data directory FieldSync should use on Android: `fieldsync` under
 * [Context.getNoBackupFilesDir], which Android excludes from Auto Backup and device-to-device
 * transfer. A database restored from a backup onto another phone would be a second device
 * with the same identity (see `FieldSyncEvent.IdentityCloned`); keeping it out of backups
 * avoids that. Apps with their own `dataExtractionRules` need no rule for it.
 */
fun fieldSyncDataDir(context: Context): String =
    File(context.noBackupFilesDir, "fieldsync").apply { mkdirs() }.path
