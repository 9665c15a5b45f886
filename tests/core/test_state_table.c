/* Walks every (state, event) pair of the block state machine: each legal edge
 * leads where docs/DESIGN.md says and keeps at least one valid copy; each
 * illegal edge is refused and leaves the block untouched. */
#include "internal.h"
#include "test.h"

enum { H = UMS_BLOCK_HOST, D = UMS_BLOCK_DEVICE, S = UMS_BLOCK_SHARED, M = UMS_BLOCK_MIGRATING, NO = -1 };
/* A SHARED block whose copies are all on devices (make() only) */
enum { SD = UMS_BLOCK_STATE_COUNT };

/* Written from the design table, independently of state.c. For COMMIT and
 * ABORT the target depends on the arguments; the value here is checked for the
 * arguments the walk uses (commit to a device, abort back to HOST). */
static const int expected[UMS_BLOCK_STATE_COUNT][UMS_EV_COUNT] = {
    /*     BEGIN COMMIT REPL ABORT FETCH FETCH_SH HOST_W DEV_W */
    [H] = {M, NO, NO, NO, NO, NO, NO, NO},
    [D] = {M, NO, NO, NO, H, S, NO, NO},
    [S] = {M, NO, NO, NO, H, S, H, D}, /* FETCH*: only with no host copy */
    [M] = {NO, D, S, H, NO, NO, NO, NO},
};

#define HOSTLOC 0u
#define DEV1 1u
#define DEV2 2u
static ums_devmem *const MEM1 = (ums_devmem *)0x1000, *const MEM2 = (ums_devmem *)0x2000;

/* Build a block in state st. */
static void make(ums__block *b, int st) {
    ums__block_init(b, HOSTLOC);
    b->populated = true;
    ums__devcopy dr[UMS_BLOCK_MAX_DEVCOPIES];
    unsigned nd;
    switch (st) {
    case H: break;
    case D:
        b->host_valid = false;
        b->dev[0] = (ums__devcopy){DEV1, MEM1};
        b->ndev = 1;
        atomic_store(&b->state, D);
        break;
    case S:
        b->dev[0] = (ums__devcopy){DEV1, MEM1};
        b->ndev = 1;
        atomic_store(&b->state, S);
        break;
    case SD:
        b->host_valid = false;
        b->dev[0] = (ums__devcopy){DEV1, MEM1};
        b->dev[1] = (ums__devcopy){DEV2, MEM2};
        b->ndev = 2;
        atomic_store(&b->state, S);
        break;
    case M:
        ASSERT_EQ(ums__block_apply(b, &(ums__transition){.ev = UMS_EV_MIGRATE_BEGIN, .src = HOSTLOC, .dst = DEV2},
                                   dr, &nd),
                  UMS_OK);
        break;
    }
}

/* Arguments that make each event's edge legal where the table allows it. */
static ums__transition args_for(int st, ums__event ev) {
    ums__transition t = {.ev = ev};
    switch (ev) {
    case UMS_EV_MIGRATE_BEGIN:
        t.src = st == D ? DEV1 : HOSTLOC;
        t.dst = DEV2;
        break;
    case UMS_EV_MIGRATE_COMMIT:
    case UMS_EV_MIGRATE_REPLICATE:
        t.dst = DEV2;
        t.dst_mem = MEM2;
        break;
    case UMS_EV_FETCH:
    case UMS_EV_FETCH_SHARED:
        t.src = DEV1;
        t.dst = HOSTLOC;
        t.dst_is_host = true;
        break;
    case UMS_EV_DEVICE_WRITE: t.dst = DEV1; break;
    default: break;
    }
    return t;
}

static uint64_t bit(unsigned l) { return 1ull << l; }

int main(void) {
    int legal = 0, illegal = 0;
    for (int st = 0; st < UMS_BLOCK_STATE_COUNT; st++) {
        for (int ev = 0; ev < UMS_EV_COUNT; ev++) {
            int tgt = ums__transition_target((ums_block_state)st, (ums__event)ev);
            bool depends = st == M && (ev == UMS_EV_MIGRATE_COMMIT || ev == UMS_EV_MIGRATE_ABORT);
            if (depends) ASSERT_EQ(tgt >= 0, expected[st][ev] >= 0); /* HOST or DEVICE / the prior state */
            else ASSERT_EQ(tgt, expected[st][ev]);
            ums__block b;
            /* a fetch needs a block without a host copy */
            make(&b, st == S && (ev == UMS_EV_FETCH || ev == UMS_EV_FETCH_SHARED) ? SD : st);
            uint64_t before = ums__block_valid_mask(&b);
            uint32_t gen = atomic_load(&b.gen);
            ums__transition t = args_for(st, (ums__event)ev);
            ums__devcopy dr[UMS_BLOCK_MAX_DEVCOPIES];
            unsigned nd = 99;
            ums_result r = ums__block_apply(&b, &t, dr, &nd);
            const char *sn = ums_block_state_name((ums_block_state)st), *en = ums__event_name((ums__event)ev);
            if (expected[st][ev] == NO) {
                if (r != UMS_ERR_ILLEGAL_TRANSITION) FAIL_("%s --%s--> accepted", sn, en);
                ASSERT_EQ(atomic_load(&b.state), (uint32_t)st);
                ASSERT_EQ(ums__block_valid_mask(&b), before);
                ASSERT_EQ(atomic_load(&b.gen), gen);
                illegal++;
            } else {
                if (r != UMS_OK) FAIL_("%s --%s--> refused: %s", sn, en, ums_result_name(r));
                if ((int)atomic_load(&b.state) != expected[st][ev])
                    FAIL_("%s --%s--> %s", sn, en, ums_block_state_name((ums_block_state)atomic_load(&b.state)));
                ASSERT_NE(ums__block_valid_mask(&b), 0); /* never without a valid copy */
                ASSERT_NE(atomic_load(&b.gen), gen);     /* waiters see the change */
                legal++;
                printf("%-9s --%-17s--> %-9s valid %#llx -> %#llx\n", sn, en,
                       ums_block_state_name((ums_block_state)atomic_load(&b.state)), (unsigned long long)before,
                       (unsigned long long)ums__block_valid_mask(&b));
            }
            pthread_mutex_destroy(&b.lock);
            pthread_cond_destroy(&b.cond);
        }
    }
    ASSERT_EQ(legal, 12);
    ASSERT_EQ(legal + illegal, UMS_BLOCK_STATE_COUNT * UMS_EV_COUNT);

    /* What each legal edge does to the copies. */
    ums__block b;
    ums__devcopy dr[UMS_BLOCK_MAX_DEVCOPIES];
    unsigned nd;
    make(&b, M); /* HOST -> DEV2 */
    ASSERT_EQ(ums__block_apply(&b, (ums__transition[]){args_for(M, UMS_EV_MIGRATE_COMMIT)}, dr, &nd), UMS_OK);
    ASSERT_EQ(ums__block_valid_mask(&b), bit(DEV2));
    make(&b, M);
    ASSERT_EQ(ums__block_apply(&b, (ums__transition[]){args_for(M, UMS_EV_MIGRATE_REPLICATE)}, dr, &nd), UMS_OK);
    ASSERT_EQ(ums__block_valid_mask(&b), bit(HOSTLOC) | bit(DEV2));
    make(&b, M);
    ASSERT_EQ(ums__block_apply(&b, &(ums__transition){.ev = UMS_EV_MIGRATE_ABORT}, dr, &nd), UMS_OK);
    ASSERT_EQ(ums__block_valid_mask(&b), bit(HOSTLOC));
    ASSERT_EQ(atomic_load(&b.state), H);
    /* commit to a host node drops device copies and hands them back */
    make(&b, S);
    ASSERT_EQ(ums__block_apply(&b, &(ums__transition){.ev = UMS_EV_MIGRATE_BEGIN, .src = DEV1, .dst = 3}, dr, &nd),
              UMS_OK);
    ASSERT_EQ(ums__block_apply(&b, &(ums__transition){.ev = UMS_EV_MIGRATE_COMMIT, .dst = 3, .dst_is_host = true},
                               dr, &nd),
              UMS_OK);
    ASSERT_EQ(ums__block_valid_mask(&b), bit(3));
    ASSERT_EQ(nd, 1);
    ASSERT(dr[0].mem == MEM1);
    /* abort returns to the state before begin, whichever it was */
    make(&b, D);
    ASSERT_EQ(ums__block_apply(&b, (ums__transition[]){args_for(D, UMS_EV_MIGRATE_BEGIN)}, dr, &nd), UMS_OK);
    ASSERT_EQ(ums__block_apply(&b, &(ums__transition){.ev = UMS_EV_MIGRATE_ABORT}, dr, &nd), UMS_OK);
    ASSERT_EQ(atomic_load(&b.state), D);
    ASSERT_EQ(ums__block_valid_mask(&b), bit(DEV1));
    /* fetch keeps or drops the device copy */
    make(&b, D);
    ASSERT_EQ(ums__block_apply(&b, (ums__transition[]){args_for(D, UMS_EV_FETCH_SHARED)}, dr, &nd), UMS_OK);
    ASSERT_EQ(ums__block_valid_mask(&b), bit(HOSTLOC) | bit(DEV1));
    make(&b, D);
    ASSERT_EQ(ums__block_apply(&b, (ums__transition[]){args_for(D, UMS_EV_FETCH)}, dr, &nd), UMS_OK);
    ASSERT_EQ(ums__block_valid_mask(&b), bit(HOSTLOC));
    ASSERT_EQ(nd, 1);
    /* a SHARED block on two devices: a read fetch keeps both, a write fetch drops both */
    make(&b, SD);
    ASSERT_EQ(ums__block_apply(&b, (ums__transition[]){args_for(S, UMS_EV_FETCH_SHARED)}, dr, &nd), UMS_OK);
    ASSERT_EQ(atomic_load(&b.state), S);
    ASSERT_EQ(ums__block_valid_mask(&b), bit(HOSTLOC) | bit(DEV1) | bit(DEV2));
    ASSERT_EQ(nd, 0);
    make(&b, SD);
    ASSERT_EQ(ums__block_apply(&b, (ums__transition[]){args_for(S, UMS_EV_FETCH)}, dr, &nd), UMS_OK);
    ASSERT_EQ(atomic_load(&b.state), H);
    ASSERT_EQ(ums__block_valid_mask(&b), bit(HOSTLOC));
    ASSERT_EQ(nd, 2);
    /* a fetch never overwrites a valid host copy */
    make(&b, S);
    ASSERT_EQ(ums__block_apply(&b, (ums__transition[]){args_for(S, UMS_EV_FETCH_SHARED)}, dr, &nd),
              UMS_ERR_ILLEGAL_TRANSITION);
    ASSERT_EQ(ums__block_apply(&b, (ums__transition[]){args_for(S, UMS_EV_FETCH)}, dr, &nd),
              UMS_ERR_ILLEGAL_TRANSITION);
    ASSERT_EQ(ums__block_valid_mask(&b), bit(HOSTLOC) | bit(DEV1));
    /* writes make one copy exclusive */
    make(&b, S);
    ASSERT_EQ(ums__block_apply(&b, (ums__transition[]){args_for(S, UMS_EV_HOST_WRITE)}, dr, &nd), UMS_OK);
    ASSERT_EQ(ums__block_valid_mask(&b), bit(HOSTLOC));
    make(&b, S);
    ASSERT_EQ(ums__block_apply(&b, (ums__transition[]){args_for(S, UMS_EV_DEVICE_WRITE)}, dr, &nd), UMS_OK);
    ASSERT_EQ(ums__block_valid_mask(&b), bit(DEV1));

    /* A legal edge with arguments that would break an invariant is refused. */
    make(&b, H);
    ASSERT_EQ(ums__block_apply(&b, &(ums__transition){.ev = UMS_EV_MIGRATE_BEGIN, .src = DEV1, .dst = DEV2}, dr, &nd),
              UMS_ERR_ILLEGAL_TRANSITION); /* source holds no copy */
    ASSERT_EQ(ums__block_apply(&b, &(ums__transition){.ev = UMS_EV_MIGRATE_BEGIN, .src = HOSTLOC, .dst = HOSTLOC},
                               dr, &nd),
              UMS_ERR_ILLEGAL_TRANSITION); /* to itself */
    make(&b, M);
    ASSERT_EQ(ums__block_apply(&b, &(ums__transition){.ev = UMS_EV_MIGRATE_COMMIT, .dst = DEV1, .dst_mem = MEM1}, dr,
                               &nd),
              UMS_ERR_ILLEGAL_TRANSITION); /* not the migration's destination */
    ASSERT_EQ(ums__block_apply(&b, &(ums__transition){.ev = UMS_EV_MIGRATE_COMMIT, .dst = DEV2}, dr, &nd),
              UMS_ERR_ILLEGAL_TRANSITION); /* device commit without memory */
    ASSERT_EQ(atomic_load(&b.state), M);
    make(&b, S);
    ASSERT_EQ(ums__block_apply(&b, &(ums__transition){.ev = UMS_EV_DEVICE_WRITE, .dst = DEV2}, dr, &nd),
              UMS_ERR_ILLEGAL_TRANSITION); /* writer holds no copy */
    ASSERT_EQ(ums__block_apply(&b, &(ums__transition){.ev = (ums__event)UMS_EV_COUNT}, dr, &nd),
              UMS_ERR_ILLEGAL_TRANSITION);
    printf("%d legal edges taken, %d illegal edges refused\n", legal, illegal);
    return 0;
}
