// Android glue: ConnectivityManager's default-network callback -> NetworkChangeForwarder ->
// Node.networkChanged(). Not compiled on the CI machine (no Android SDK).
package org.fieldsync

import android.content.Context
import android.net.ConnectivityManager
import android.net.LinkProperties
import android.net.Network
import kotlinx.coroutines.CoroutineScope

/**
 * Keeps a node's network bound to the device's current network: registers a default-network
 * callback with [ConnectivityManager] and calls [Node.networkChanged] (through
 * [NetworkChangeForwarder]) when the default network or its addresses change, e.g. on a switch
 * from Wi-Fi to mobile data. Needs `ACCESS_NETWORK_STATE` (declared by the library's manifest).
 *
 * ```kotlin
 * val monitor = NetworkChangeMonitor(context, node, lifecycleScope).also { it.start() }
 * // ...
 * monitor.close()
 * ```
 */
class NetworkChangeMonitor(
    context: Context,
    node: Node,
    scope: CoroutineScope,
    onError: (Exception) -> Unit = {},
) : AutoCloseable {
    private val connectivity = context.getSystemService(ConnectivityManager::class.java)
    private val forwarder = NetworkChangeForwarder(node, scope, onError = onError)
    private val callback = object : ConnectivityManager.NetworkCallback() {
        override fun onAvailable(network: Network) {
            val props = connectivity.getLinkProperties(network)
            forwarder.onNetwork("$network ${props?.linkAddresses}")
        }

        override fun onLinkPropertiesChanged(network: Network, linkProperties: LinkProperties) {
            forwarder.onNetwork("$network ${linkProperties.linkAddresses}")
        }

        override fun onLost(network: Network) {
            forwarder.onNetwork(null)
        }
    }
    private var registered = false

    /** Starts listening (minSdk 24: `registerDefaultNetworkCallback`). Idempotent. */
    @Synchronized
    fun start() {
        if (!registered) {
            connectivity.registerDefaultNetworkCallback(callback)
            registered = true
        }
    }

    /** Stops listening. Idempotent. */
    @Synchronized
    override fun close() {
        if (registered) {
            connectivity.unregisterNetworkCallback(callback)
            registered = false
        }
    }
}
