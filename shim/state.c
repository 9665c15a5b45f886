/* Every block state transition lives here: the legal edges of the state machine
 * (docs/DESIGN.md) and the bookkeeping each one does. Mapping changes (write
 * protection, installs, zaps) are the caller's job, in migrate.c and fault.c;
 * this file only decides what is legal and which copies are valid afterwards,
 * so a table test can walk every edge without touching memory. */
#include <string.h>

#include "internal.h"

#define X_ (-1)
/* target[state][event]: the state an event leads to, X_ when illegal. */
static const int target[UMS_BLOCK_STATE_COUNT][UMS_EV_COUNT] = {
    /*                BEGIN              COMMIT  REPLICATE ABORT FETCH            FETCH_SHARED      HOST_WRITE        DEVICE_WRITE */
    [UMS_BLOCK_HOST] = {UMS_BLOCK_MIGRATING, X_, X_, X_, X_, X_, X_, X_},
    [UMS_BLOCK_DEVICE] = {UMS_BLOCK_MIGRATING, X_, X_, X_, UMS_BLOCK_HOST, UMS_BLOCK_SHARED, X_, X_},
    /* FETCH from SHARED: only when the copies are all on devices (no host copy) */
    [UMS_BLOCK_SHARED] = {UMS_BLOCK_MIGRATING, X_, X_, X_, UMS_BLOCK_HOST, UMS_BLOCK_SHARED, UMS_BLOCK_HOST,
                          UMS_BLOCK_DEVICE},
    /* COMMIT goes to HOST or DEVICE and ABORT to the state before BEGIN: the
     * entries below are markers resolved in ums__block_apply(). */
    [UMS_BLOCK_MIGRATING] = {X_, UMS_BLOCK_HOST, UMS_BLOCK_SHARED, UMS_BLOCK_HOST, X_, X_, X_, X_},
};

const char *ums__event_name(ums__event ev) {
    static const char *const names[UMS_EV_COUNT] = {"migrate-begin", "migrate-commit", "migrate-replicate",
                                                    "migrate-abort", "fetch",          "fetch-shared",
                                                    "host-write",    "device-write"};
    return (unsigned)ev < UMS_EV_COUNT ? names[ev] : "unknown";
}

int ums__transition_target(ums_block_state from, ums__event ev) {
    if ((unsigned)from >= UMS_BLOCK_STATE_COUNT || (unsigned)ev >= UMS_EV_COUNT) return X_;
    return target[from][ev];
}

void ums__block_init(ums__block *b, ums_location_t host_loc) {
    memset(b, 0, sizeof *b);
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    atomic_init(&b->state, UMS_BLOCK_HOST);
    atomic_init(&b->gen, 0);
    atomic_init(&b->write_abort, 0);
    b->host_valid = true;
    b->host_loc = host_loc;
    b->mig_src = b->mig_dst = UMS_LOCATION_NONE;
    b->preferred = UMS_LOCATION_NONE;
}

ums_devmem *ums__block_devmem(const ums__block *b, ums_location_t loc) {
    for (unsigned i = 0; i < b->ndev; i++)
        if (b->dev[i].loc == loc) return b->dev[i].mem;
    return NULL;
}

uint64_t ums__block_valid_mask(const ums__block *b) {
    uint64_t m = 0;
    if (b->host_valid && b->host_loc < UMS_MAX_LOCATIONS) m |= 1ull << b->host_loc;
    for (unsigned i = 0; i < b->ndev; i++) m |= 1ull << b->dev[i].loc;
    return m;
}

static unsigned copies(const ums__block *b) { return (b->host_valid ? 1u : 0u) + b->ndev; }

/* Drop every device copy except `keep` (UMS_LOCATION_NONE drops all). */
static void drop_devices(ums__block *b, ums_location_t keep, ums__devcopy *dropped, unsigned *nd) {
    unsigned w = 0;
    for (unsigned i = 0; i < b->ndev; i++) {
        if (b->dev[i].loc == keep) b->dev[w++] = b->dev[i];
        else dropped[(*nd)++] = b->dev[i];
    }
    b->ndev = w;
}

static bool holds(const ums__block *b, ums_location_t loc, bool is_host) {
    return is_host ? (b->host_valid && b->host_loc == loc) : ums__block_devmem(b, loc) != NULL;
}

ums_result ums__block_apply(ums__block *b, const ums__transition *t, ums__devcopy *dropped, unsigned *ndropped) {
    ums_block_state from = (ums_block_state)atomic_load(&b->state);
    *ndropped = 0;
    int to = ums__transition_target(from, t->ev);
    if (to < 0) return UMS_ERR_ILLEGAL_TRANSITION;

    switch (t->ev) {
    case UMS_EV_MIGRATE_BEGIN: {
        /* The source must hold a valid copy; the destination must not be the only one. */
        bool src_host = b->host_valid && b->host_loc == t->src;
        if (!src_host && !ums__block_devmem(b, t->src)) return UMS_ERR_ILLEGAL_TRANSITION;
        if (t->dst == t->src) return UMS_ERR_ILLEGAL_TRANSITION;
        b->prev_state = from;
        b->mig_src = t->src;
        b->mig_dst = t->dst;
        break;
    }
    case UMS_EV_MIGRATE_COMMIT:
        if (t->dst != b->mig_dst) return UMS_ERR_ILLEGAL_TRANSITION;
        if (t->dst_is_host) {
            drop_devices(b, UMS_LOCATION_NONE, dropped, ndropped);
            b->host_valid = true;
            b->host_loc = t->dst;
            to = UMS_BLOCK_HOST;
        } else {
            if (!t->dst_mem) return UMS_ERR_ILLEGAL_TRANSITION;
            drop_devices(b, UMS_LOCATION_NONE, dropped, ndropped);
            b->host_valid = false;
            b->dev[0] = (ums__devcopy){t->dst, t->dst_mem};
            b->ndev = 1;
            to = UMS_BLOCK_DEVICE;
        }
        b->mig_src = b->mig_dst = UMS_LOCATION_NONE;
        break;
    case UMS_EV_MIGRATE_REPLICATE:
        if (t->dst != b->mig_dst) return UMS_ERR_ILLEGAL_TRANSITION;
        if (t->dst_is_host) {
            if (b->host_valid) return UMS_ERR_ILLEGAL_TRANSITION; /* one host mapping only */
            b->host_valid = true;
            b->host_loc = t->dst;
        } else {
            if (!t->dst_mem || b->ndev >= UMS_BLOCK_MAX_DEVCOPIES || ums__block_devmem(b, t->dst))
                return UMS_ERR_ILLEGAL_TRANSITION;
            b->dev[b->ndev++] = (ums__devcopy){t->dst, t->dst_mem};
        }
        b->mig_src = b->mig_dst = UMS_LOCATION_NONE;
        break;
    case UMS_EV_MIGRATE_ABORT:
        to = (int)b->prev_state;
        b->mig_src = b->mig_dst = UMS_LOCATION_NONE;
        break;
    case UMS_EV_FETCH:
    case UMS_EV_FETCH_SHARED:
        /* A fetch makes the host copy valid; one that is valid already is not fetched
         * (it would be overwritten by an older device copy's bytes). */
        if (!t->dst_is_host || b->host_valid || !ums__block_devmem(b, t->src)) return UMS_ERR_ILLEGAL_TRANSITION;
        if (t->ev == UMS_EV_FETCH) drop_devices(b, UMS_LOCATION_NONE, dropped, ndropped);
        b->host_valid = true;
        b->host_loc = t->dst;
        break;
    case UMS_EV_HOST_WRITE:
        if (!b->host_valid) return UMS_ERR_ILLEGAL_TRANSITION;
        drop_devices(b, UMS_LOCATION_NONE, dropped, ndropped);
        break;
    case UMS_EV_DEVICE_WRITE:
        if (!holds(b, t->dst, false)) return UMS_ERR_ILLEGAL_TRANSITION;
        drop_devices(b, t->dst, dropped, ndropped);
        b->host_valid = false;
        break;
    default:
        return UMS_ERR_ILLEGAL_TRANSITION;
    }
    /* Invariant: no path leaves a block without a valid copy, and SHARED means several. */
    if (copies(b) == 0 || (to == UMS_BLOCK_SHARED && copies(b) < 2)) {
        /* unreachable by construction; refuse rather than lose data */
        return UMS_ERR_ILLEGAL_TRANSITION;
    }
    atomic_store(&b->state, (uint32_t)to);
    atomic_fetch_add(&b->gen, 1);
    return UMS_OK;
}
