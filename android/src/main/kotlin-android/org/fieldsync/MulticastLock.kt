// Android-only helper (uses android.* APIs): kept out of src/main/kotlin so that the JVM test
// build (scripts/kotlin-test.sh, kotlinc without the Android SDK) never needs it.
package org.fieldsync

import android.content.Context
import android.net.wifi.WifiManager

/**
 * Holds a Wi-Fi [WifiManager.MulticastLock] while FieldSync's local discovery (mDNS,
 * 224.0.0.251 / ff02::fb port 5353) runs.
 *
 * Android's Wi-Fi stack filters incoming multicast packets unless some app holds a multicast lock,
 * so without it peers on the same LAN do not find each other (sending still works, receiving does
 * not). Needs `android.permission.CHANGE_WIFI_MULTICAST_STATE` (declared in this library's
 * manifest, merged into the app). The lock costs battery: hold it only while the node runs with
 * local discovery on, and release it when the node stops.
 *
 * ```kotlin
 * val lock = FieldSyncMulticastLock(context)
 * lock.acquire()
 * try { /* start the node, collect events ... */ } finally { lock.release() }
 * // or: FieldSyncMulticastLock(context).use { it.acquire(); ... }
 * ```
 */
class FieldSyncMulticastLock(
    context: Context,
    tag: String = "fieldsync-mdns",
) : AutoCloseable {
    private val lock: WifiManager.MulticastLock =
        (context.applicationContext.getSystemService(Context.WIFI_SERVICE) as WifiManager)
            .createMulticastLock(tag)
            .apply { setReferenceCounted(false) }

    /** True while the lock is held. */
    val isHeld: Boolean get() = lock.isHeld

    /** Acquire the lock (idempotent: the lock is not reference counted). */
    fun acquire() {
        if (!lock.isHeld) lock.acquire()
    }

    /** Release the lock if held (idempotent). */
    fun release() {
        if (lock.isHeld) lock.release()
    }

    override fun close() = release()
}

/** Runs [block] while holding a [FieldSyncMulticastLock]. */
inline fun <T> Context.withFieldSyncMulticastLock(block: () -> T): T =
    FieldSyncMulticastLock(this).use { lock ->
        lock.acquire()
        block()
    }
