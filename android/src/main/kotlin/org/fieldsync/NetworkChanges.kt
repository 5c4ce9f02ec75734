// Connectivity changes -> Node.networkChanged(), platform-neutral part (compiled and tested on
// the JVM); the Android ConnectivityManager glue is NetworkChangeMonitor in src/main/kotlin-android.
package org.fieldsync

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch

/**
 * Turns the platform's reports of the current network into calls of [rebind] (by default
 * [Node.networkChanged]): when the network identity changes (another Wi-Fi, Wi-Fi to mobile
 * data, new addresses after sleep), the node rebinds and dials its known peers again at once.
 *
 * Reports arrive in bursts (lost, available, link properties ...): a rebind runs once the
 * reports have been quiet for [settleMillis]; a report equal to the last one does nothing;
 * `null` (no network) does nothing either, the next network triggers the rebind (also the same
 * network coming back, e.g. after sleep). Errors of the
 * rebind go to [onError] and never stop later rebinds.
 *
 * Thread-safe: call [onNetwork] from any thread (ConnectivityManager calls back on its own).
 */
class NetworkChangeForwarder(
    private val scope: CoroutineScope,
    private val settleMillis: Long = 300,
    private val onError: (Exception) -> Unit = {},
    private val rebind: suspend () -> Unit,
) {
    /** Forwards to [node]'s [Node.networkChanged]. */
    constructor(node: Node, scope: CoroutineScope, settleMillis: Long = 300, onError: (Exception) -> Unit = {}) :
        this(scope, settleMillis, onError, { node.networkChanged() })

    private var last: String? = null
    private var baseline = true
    private var pending: Job? = null

    /**
     * The platform's current network, as any string that changes when the network does (the
     * network handle plus its addresses), or `null` while there is none. The first network
     * reported is the one the node runs on (registering a callback reports it at once): it
     * triggers nothing.
     */
    @Synchronized
    fun onNetwork(current: String?) {
        if (current == last) return
        last = current
        if (current == null) return
        if (baseline) {
            baseline = false
            return
        }
        pending?.cancel()
        pending = scope.launch {
            delay(settleMillis)
            try {
                rebind()
            } catch (e: kotlinx.coroutines.CancellationException) {
                throw e
            } catch (e: Exception) {
                onError(e)
            }
        }
    }
}
