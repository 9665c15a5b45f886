/**
 * @file umshim/placement.h
 * @brief Placement: deciding which host NUMA node(s) data should live on.
 *
 * A placement request (::ums_placement) names a policy and its inputs: a
 * device, a node set or a set of CPUs. The decision (::ums_placement_decision)
 * names the chosen OS NUMA node indexes and explains itself: which attribute
 * decided (bandwidth, latency, capacity, NUMA distance, PCI locality, ...),
 * whether a fallback was taken, and a sentence with the values seen.
 *
 * Decisions come from hwloc:
 * - memory attributes (bandwidth, latency) where the platform reports them
 *   (ACPI HMAT on Linux), measured from an initiator cpuset;
 * - the NUMA distance matrix (ACPI SLIT) when those attributes are absent;
 * - each node's local memory size for capacity;
 * - the locality of a device's PCI bus for ::UMS_PLACE_NEAR_DEVICE.
 *
 * Fallback chain for ::UMS_PLACE_HIGHEST_BANDWIDTH and ::UMS_PLACE_LOWEST_LATENCY:
 * memory attribute → NUMA distance from the cpuset's local nodes → the
 * cpuset's local node. A cpuset that spans several localities (two packages,
 * say) while the platform reports values per locality is judged by its worst
 * value over them: the slowest CPUs decide. Ties are broken by NUMA distance,
 * then by the lowest OS index, so a decision is deterministic for a given
 * topology.
 *
 * ::UMS_PLACE_LOCAL and ::UMS_PLACE_NEAR_DEVICE prefer ordinary memory over
 * special tiers (nodes hwloc gives a subtype such as "HBM", "NVM" or
 * "CXL-DRAM"): first touch lands there, and device buffers gain little from
 * scarce HBM. A device whose locality is the whole machine is equally near
 * every node; the decision then names them all (or the node the device
 * reports, when it is one of them).
 *
 * The cpuset of a request is a list of OS CPU indexes. An empty list means the
 * calling thread's CPU binding on this machine (its whole machine when unbound),
 * or the whole machine of a topology that is not this one (an XML file).
 *
 * All indexes in this header are OS indexes (the numbers Linux uses in
 * `/sys/devices/system/node/nodeN` and in CPU lists), never hwloc logical ones.
 */
#ifndef UMSHIM_PLACEMENT_H
#define UMSHIM_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "umshim/export.h"
#include "umshim/location.h"
#include "umshim/result.h"
#include "umshim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The most nodes one decision can name (a runtime holds at most ::UMS_MAX_LOCATIONS). */
#define UMS_PLACEMENT_MAX_NODES 64u

/** The most entries accepted in a request's `nodes` or `cpus` array (guards against garbage counts). */
#define UMS_PLACEMENT_MAX_INPUT (1u << 20)

/** Placement policies. Zero is ::UMS_PLACE_LOCAL, so a zeroed request means first touch. */
typedef enum ums_placement_policy {
    /** First touch: the node(s) local to the request's CPUs. */
    UMS_PLACE_LOCAL = 0,
    /** Bind to exactly the request's node set. */
    UMS_PLACE_BIND = 1,
    /** Interleave pages over the request's node set. */
    UMS_PLACE_INTERLEAVE = 2,
    /** The host node nearest to a device (by `device` or `pci_bus_id`). */
    UMS_PLACE_NEAR_DEVICE = 3,
    /** The node with the highest bandwidth from the request's CPUs. */
    UMS_PLACE_HIGHEST_BANDWIDTH = 4,
    /** The node with the lowest latency from the request's CPUs. */
    UMS_PLACE_LOWEST_LATENCY = 5,
    /** The node with the largest memory capacity. */
    UMS_PLACE_LARGEST_CAPACITY = 6
} ums_placement_policy;

/** What a decision was based on (::ums_placement_decision.basis). */
typedef enum ums_placement_basis {
    UMS_PLACE_BASIS_NONE = 0,         /**< no information: every node was returned */
    UMS_PLACE_BASIS_BANDWIDTH = 1,    /**< hwloc bandwidth attribute (MiB/s) */
    UMS_PLACE_BASIS_LATENCY = 2,      /**< hwloc latency attribute (ns) */
    UMS_PLACE_BASIS_CAPACITY = 3,     /**< node memory capacity (bytes) */
    UMS_PLACE_BASIS_DISTANCE = 4,     /**< NUMA distance matrix (relative, 10 = local) */
    UMS_PLACE_BASIS_PCI_LOCALITY = 5, /**< where the device's PCI bus attaches */
    UMS_PLACE_BASIS_DEVICE_HINT = 6,  /**< the nearest node the device's backend reported */
    UMS_PLACE_BASIS_EXPLICIT = 7,     /**< the node set given in the request */
    UMS_PLACE_BASIS_FIRST_TOUCH = 8   /**< the node(s) local to the request's CPUs */
} ums_placement_basis;

/**
 * A placement request. Initialise with ums_placement_init(), then set the
 * fields the policy uses. Arrays are read during the call only.
 *
 * Every field is validated, including fields the policy does not use: a NULL
 * array with a non-zero count is an error whatever the policy.
 */
typedef struct ums_placement {
    /** sizeof(ums_placement), set by ums_placement_init(); smaller values are rejected. */
    uint32_t struct_size;
    /** The policy. */
    ums_placement_policy policy;
    /** Reserved, must be 0. */
    uint32_t flags;
    /** ::UMS_PLACE_NEAR_DEVICE: the device location in a runtime (ignored when `pci_bus_id` is set);
     *  ::UMS_LOCATION_NONE when unused. */
    ums_location_t device;
    /** ::UMS_PLACE_NEAR_DEVICE: the device's PCI address "dddd:bb:dd.f" (or "bb:dd.f"),
     *  an alternative to `device`; NULL or "" when unused. */
    const char *pci_bus_id;
    /** ::UMS_PLACE_BIND and ::UMS_PLACE_INTERLEAVE: OS NUMA node indexes (duplicates are allowed). */
    const unsigned *nodes;
    /** Number of entries in `nodes`; must be non-zero for BIND and INTERLEAVE. */
    size_t node_count;
    /** OS CPU indexes of the CPUs that will access the data; NULL with `cpu_count` 0 means
     *  the calling thread's binding (see the file description). */
    const unsigned *cpus;
    /** Number of entries in `cpus`. */
    size_t cpu_count;
} ums_placement;

/** The outcome of a placement decision, with its explanation. */
typedef struct ums_placement_decision {
    /** The policy that was decided (copied from the request). */
    ums_placement_policy policy;
    /** Number of entries of `nodes` in use (at least 1). */
    uint32_t node_count;
    /** The chosen OS NUMA node indexes, ascending. One node for the attribute-based policies
     *  (bandwidth, latency, capacity, and usually near-device); a set for BIND, INTERLEAVE, LOCAL
     *  and for fallbacks that found several equally good nodes. */
    unsigned nodes[UMS_PLACEMENT_MAX_NODES];
    /** What decided. */
    ums_placement_basis basis;
    /** Non-zero when the preferred source of information was missing and a fallback was used. */
    int fallback;
    /** The deciding value, in the unit of `basis`: MiB/s, ns, bytes, or a NUMA distance; 0 when none. */
    uint64_t value;
    /** A sentence explaining the decision: the node(s), the attribute and its value, the
     *  initiator cpuset, and the fallback taken if any. */
    char reason[256];
} ums_placement_decision;

/**
 * Fill a request with defaults: struct_size set, the given policy, no device
 * (::UMS_LOCATION_NONE), no PCI address, empty node set and cpuset, flags 0.
 * @param p       request to fill
 * @param policy  the policy to store (not validated here)
 * @return ::UMS_OK or ::UMS_ERR_NULL_POINTER.
 */
UMS_API ums_result ums_placement_init(ums_placement *p, ums_placement_policy policy);

/**
 * Decide a placement in a runtime's topology, without moving anything.
 * ::UMS_PLACE_NEAR_DEVICE resolves `device` through the runtime's locations
 * (its PCI address and nearest node).
 * @param rt   runtime, or NULL for the default runtime
 * @param p    the request
 * @param out  receives the decision, written only on success (on failure the
 *             last-error record's message says what was wrong with the request)
 * @return ::UMS_OK; ::UMS_ERR_NULL_POINTER; ::UMS_ERR_INVALID_ARG (bad struct_size, unknown
 *         policy, empty node set for BIND/INTERLEAVE, CPU not in the topology, malformed
 *         PCI address, no device given for NEAR_DEVICE); ::UMS_ERR_UNKNOWN_FLAG;
 *         ::UMS_ERR_UNKNOWN_LOCATION (node or device not known); ::UMS_ERR_BUFFER_TOO_SMALL
 *         (more than ::UMS_PLACEMENT_MAX_NODES nodes chosen); ::UMS_ERR_NO_MEMORY.
 */
UMS_API ums_result ums_placement_decide(ums_runtime_t *rt, const ums_placement *p, ums_placement_decision *out);

/**
 * Decide a placement in the topology stored in an hwloc XML file (as written by
 * `lstopo file.xml` or hwloc_topology_export_xml()). I/O objects in the file are
 * kept, so ::UMS_PLACE_NEAR_DEVICE works with `pci_bus_id` (`device` has no meaning
 * without a runtime). An empty cpuset means the file's whole machine.
 * @param xml_path  path of the XML file
 * @param p         the request
 * @param out       receives the decision, written only on success
 * @return the codes of ums_placement_decide(), and ::UMS_ERR_SYSTEM when the file cannot be
 *         read (errno in the reason), ::UMS_ERR_INVALID_ARG when it is not an hwloc topology.
 */
UMS_API ums_result ums_placement_decide_xml(const char *xml_path, const ums_placement *p,
                                           ums_placement_decision *out);

/**
 * Place an existing range of managed memory: decide as ums_placement_decide() in
 * the range's runtime, then move the range's blocks (the range is widened to
 * whole blocks) to the chosen host node(s) and set the range's memory policy so
 * that pages touched for the first time later land by the same decision.
 *
 * Where the blocks go:
 * - one node: every block there;
 * - ::UMS_PLACE_INTERLEAVE: the blocks round-robin over the nodes, the range's
 *   first block on the lowest node (interleaving is per block, the unit of
 *   migration, not per page);
 * - ::UMS_PLACE_BIND with several nodes, and any other decision that names
 *   several nodes (a device equally near several nodes, a cpuset local to several
 *   nodes): blocks already on one of the nodes stay; the others go to the calling
 *   thread's current node when it is one of them, else to the lowest;
 * - ::UMS_PLACE_LOCAL: the calling thread's current node when the decision names
 *   it (the request's cpuset includes the thread's CPU), else the decision's lowest
 *   node.
 *
 * Moves use the migration protocol of the runtime (ums_migrate()): under the
 * readable protocol readers of the range keep going and only writers wait for
 * their block. Device-resident blocks come back to the host node; afterwards each
 * block's only copy is there.
 *
 * Memory policy left on the range (`get_mempolicy(MPOL_F_ADDR)` shows it):
 * `MPOL_BIND` over the node set for ::UMS_PLACE_BIND, `MPOL_LOCAL` for
 * ::UMS_PLACE_LOCAL, `MPOL_PREFERRED` on each block's node for
 * ::UMS_PLACE_INTERLEAVE, and `MPOL_PREFERRED` on the chosen node for the other
 * policies (a preference: when the node is full, a later first touch lands
 * elsewhere rather than failing).
 *
 * @param ptr  start of the range, inside a live allocation
 * @param len  length in bytes (non-zero)
 * @param p    the request
 * @param out  receives the decision on success; may be NULL when the caller does not
 *             need it (on failure, ums_last_error() says what was decided and what failed)
 * @return ::UMS_OK; ::UMS_ERR_NULL_POINTER; the decision's errors;
 *         ::UMS_ERR_NOT_MANAGED, ::UMS_ERR_OUT_OF_RANGE, ::UMS_ERR_BAD_SIZE;
 *         ::UMS_ERR_UNKNOWN_LOCATION when a chosen node has no location in the runtime;
 *         ::UMS_ERR_NOT_SUPPORTED for a node numbered 1024 or above;
 *         ::UMS_ERR_SYSTEM when a memory policy cannot be set (the range's policies are
 *         restored; when that happens before the moves, as it does for every policy
 *         but the final one, nothing has moved); or the first migration error: blocks
 *         that failed keep their data where it was, blocks that moved stay moved, and
 *         the range's policies are restored.
 */
UMS_API ums_result ums_place(void *ptr, size_t len, const ums_placement *p, ums_placement_decision *out);

/**
 * Allocate managed memory placed by a request: decide as ums_placement_decide()
 * in the runtime, allocate as ums_runtime_alloc(), and set the new range's memory
 * policy as ums_place() would, so that its pages land on the chosen node(s) when
 * they are first touched (or at once with ::UMS_ALLOC_POPULATE). Each block's host
 * node is recorded (ums_query() reports it as the block's home). ::UMS_PLACE_LOCAL
 * records the calling thread's current node and leaves first touch to decide.
 * @param rt     runtime, or NULL for the default runtime
 * @param size   bytes, > 0; rounded up to whole blocks
 * @param flags  UMS_ALLOC_* bits
 * @param p      the request
 * @param out    receives the decision; may be NULL
 * @param ptr    receives the base pointer (unchanged on failure)
 * @return ::UMS_OK; ::UMS_ERR_NULL_POINTER (`p` or `ptr`); ::UMS_ERR_BAD_SIZE;
 *         ::UMS_ERR_UNKNOWN_FLAG; the decision's errors; ::UMS_ERR_UNKNOWN_LOCATION
 *         (a chosen node has no location); ::UMS_ERR_NOT_SUPPORTED (a node numbered 1024 or
 *         above); ::UMS_ERR_NO_MEMORY; ::UMS_ERR_SYSTEM
 *         (including a memory policy that cannot be set). Nothing is allocated on failure.
 */
UMS_API ums_result ums_alloc_placed(ums_runtime_t *rt, size_t size, unsigned flags, const ums_placement *p,
                                    ums_placement_decision *out, void **ptr);

/**
 * Name of a policy: "local", "bind", "interleave", "near-device", "highest-bandwidth",
 * "lowest-latency", "largest-capacity".
 * @return a static string; "unknown" for a value not in the enumeration.
 */
UMS_API const char *ums_placement_policy_name(ums_placement_policy policy);

/**
 * Parse a policy name as returned by ums_placement_policy_name(). Case is ignored
 * and '_' is accepted for '-'.
 * @param name  the name
 * @param out   receives the policy
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, or ::UMS_ERR_INVALID_ARG for an unknown name
 *         (`*out` is then left unchanged).
 */
UMS_API ums_result ums_placement_policy_parse(const char *name, ums_placement_policy *out);

/**
 * Name of a decision basis: "none", "bandwidth", "latency", "capacity", "distance",
 * "pci-locality", "device-hint", "explicit", "first-touch".
 * @return a static string; "unknown" for a value not in the enumeration.
 */
UMS_API const char *ums_placement_basis_name(ums_placement_basis basis);

#ifdef __cplusplus
}
#endif
#endif
