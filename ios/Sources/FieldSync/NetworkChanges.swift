// Connectivity changes -> Node.networkChanged(). `NetworkChangeForwarder` is platform-neutral
// (tested on Linux); `NetworkChangeMonitor` feeds it from NWPathMonitor on Apple platforms.
import Foundation

/// Turns reports of the current network into calls of `rebind` (by default
/// `Node.networkChanged()`): when the network changes (another Wi-Fi, Wi-Fi to cellular, new
/// addresses after sleep), the node rebinds and dials its known peers again at once.
///
/// Reports arrive in bursts: a rebind runs once they have been quiet for `settle` seconds; a report
/// equal to the last does nothing; `nil` (no network) does nothing either, and the next network
/// triggers the rebind (also the same network coming back). The first network reported is the
/// one the node runs on: it triggers nothing. Errors of the rebind go to `onError`.
public final class NetworkChangeForwarder: @unchecked Sendable {
    private let lock = NSLock()
    private let settle: TimeInterval
    private let rebind: @Sendable () async throws -> Void
    private let onError: @Sendable (Error) -> Void
    private var last: String?
    private var baseline = true
    private var pending: Task<Void, Never>?

    /// Forwards to `node.networkChanged()`.
    public convenience init(
        node: Node, settle: TimeInterval = 0.3,
        onError: @escaping @Sendable (Error) -> Void = { _ in }
    ) {
        self.init(settle: settle, onError: onError) { _ = try await node.networkChanged() }
    }

    /// Calls `rebind` on a change (tests, or apps with their own reaction).
    public init(
        settle: TimeInterval = 0.3,
        onError: @escaping @Sendable (Error) -> Void = { _ in },
        rebind: @escaping @Sendable () async throws -> Void
    ) {
        self.settle = settle
        self.onError = onError
        self.rebind = rebind
    }

    /// The current network, as any string that changes when the network does (interfaces
    /// and their kinds), or `nil` while there is none. Callable from any thread.
    public func onNetwork(_ current: String?) {
        lock.lock()
        defer { lock.unlock() }
        guard current != last else { return }
        last = current
        guard current != nil else { return }
        if baseline {
            baseline = false
            return
        }
        pending?.cancel()
        let (settle, rebind, onError) = (self.settle, self.rebind, self.onError)
        pending = Task {
            do {
                try await Task.sleep(nanoseconds: UInt64(settle * 1_000_000_000))
                try await rebind()
            } catch is CancellationError {
            } catch {
                onError(error)
            }
        }
    }

    deinit { pending?.cancel() }
}

#if canImport(Network)
import Network

/// Keeps a node's network bound to the device's current network: an `NWPathMonitor` reports
/// path changes to a `NetworkChangeForwarder`, which calls `Node.networkChanged()`.
///
/// ```swift
/// let monitor = NetworkChangeMonitor(node: node)
/// monitor.start()
/// // ...
/// monitor.cancel()
/// ```
public final class NetworkChangeMonitor: @unchecked Sendable {
    private let monitor = NWPathMonitor()
    private let forwarder: NetworkChangeForwarder
    private let queue = DispatchQueue(label: "org.fieldsync.network-change")

    public init(node: Node, onError: @escaping @Sendable (Error) -> Void = { _ in }) {
        forwarder = NetworkChangeForwarder(node: node, onError: onError)
    }

    /// Starts monitoring. Call once.
    public func start() {
        let forwarder = self.forwarder
        monitor.pathUpdateHandler = { path in
            guard path.status == .satisfied else { return forwarder.onNetwork(nil) }
            let interfaces = path.availableInterfaces.map { "\($0.name):\($0.type)" }
            forwarder.onNetwork(interfaces.joined(separator: ",") + (path.isExpensive ? " expensive" : ""))
        }
        monitor.start(queue: queue)
    }

    /// Stops monitoring.
    public func cancel() { monitor.cancel() }

    deinit { monitor.cancel() }
}
#endif
