/* Allocation, CPU access, migration to a device and back, residency, counters. */
#include "test.h"

static ums_runtime_t *make_rt(void) {
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    cfg.sim = "count=2,capacity=64M";
    cfg.opencl = 0;
    ums_runtime_t *rt;
    ASSERT_OK(ums_runtime_create(&cfg, &rt));
    return rt;
}

int main(void) {
    ums_runtime_t *rt = make_rt();
    printf("fault mode: %s\n", ums_fault_mode_name(ums_runtime_fault_mode(rt)));
    size_t bs = ums_runtime_block_size(rt);
    ASSERT_EQ(bs, 2u << 20);
    ums_location_t host, sim0, sim1;
    ASSERT_OK(ums_location_find(rt, "node0", &host));
    ASSERT_OK(ums_location_find(rt, "sim0", &sim0));
    ASSERT_OK(ums_location_find(rt, "sim1", &sim1));

    size_t n = 3 * bs + 12345;
    unsigned char *p;
    ASSERT_OK(ums_runtime_alloc(rt, n, 0, (void **)&p));
    ASSERT_EQ((uintptr_t)p % bs, 0);
    for (size_t i = 0; i < n; i++) ASSERT_EQ(p[i], 0); /* fresh memory reads as zero */
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 7 + 3);

    ums_block_info info[8];
    size_t count;
    ASSERT_OK(ums_query(p, n, info, 8, &count));
    ASSERT_EQ(count, 4);
    for (size_t i = 0; i < count; i++) {
        ASSERT_EQ(info[i].state, UMS_BLOCK_HOST);
        ASSERT_EQ(info[i].valid, 1ull << host);
    }

    /* to a device: the host copy goes away */
    ums_migrate_report rep;
    ASSERT_OK(ums_migrate_ex(p, n, sim0, &rep));
    ASSERT_EQ(rep.blocks_moved, 4);
    ASSERT_OK(ums_query(p, n, info, 8, &count));
    for (size_t i = 0; i < count; i++) {
        ASSERT_EQ(info[i].state, UMS_BLOCK_DEVICE);
        ASSERT_EQ(info[i].valid, 1ull << sim0);
    }
    /* device to device */
    ASSERT_OK(ums_migrate(p, n, sim1));
    ASSERT_OK(ums_query(p, n, info, 8, &count));
    for (size_t i = 0; i < count; i++) ASSERT_EQ(info[i].valid, 1ull << sim1);

    /* a CPU read faults and fetches the block */
    ums_counters c0, c1;
    ASSERT_OK(ums_counters_get(rt, &c0));
    ASSERT_EQ(p[bs + 5], (unsigned char)((bs + 5) * 7 + 3));
    ASSERT_OK(ums_counters_get(rt, &c1));
    ASSERT_EQ(c1.fetches - c0.fetches, 1);
    ASSERT_OK(ums_query(p + bs, 1, info, 1, &count));
    ASSERT_EQ(info[0].state, UMS_BLOCK_HOST);
    /* every byte survives */
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 7 + 3)) FAIL_("byte %zu: %u", i, p[i]);
    ASSERT_OK(ums_query(p, n, info, 8, &count));
    for (size_t i = 0; i < count; i++) ASSERT_EQ(info[i].state, UMS_BLOCK_HOST);

    /* a CPU write to a device block fetches it, then writes */
    ASSERT_OK(ums_migrate(p, n, sim0));
    p[7] = 99;
    ASSERT_EQ(p[7], 99);
    ASSERT_EQ(p[8], (unsigned char)(8 * 7 + 3));

    /* prefetch back to the host asynchronously */
    ums_event_t *ev;
    ASSERT_OK(ums_prefetch(p, n, host, &ev));
    ASSERT_OK(ums_event_wait(ev, UINT64_MAX));
    ums_migrate_report r2;
    ASSERT_OK(ums_event_query(ev, &r2));
    ASSERT_EQ(r2.blocks_total, 4);
    ASSERT_OK(ums_event_release(ev));
    ASSERT_OK(ums_query(p, n, info, 8, &count));
    for (size_t i = 0; i < count; i++) ASSERT_EQ(info[i].state, UMS_BLOCK_HOST);
    ASSERT_OK(ums_counters_get(rt, &c1));
    printf("faults %llu fetches %llu migrations %llu h2d %llu d2h %llu d2d %llu\n",
           (unsigned long long)c1.faults, (unsigned long long)c1.fetches, (unsigned long long)c1.migrations,
           (unsigned long long)c1.bytes_host_to_device, (unsigned long long)c1.bytes_device_to_host,
           (unsigned long long)c1.bytes_device_to_device);
    ASSERT_GT(c1.bytes_device_to_device, 0);

    /* Replicas on two devices and none on the host (READ_MOSTLY, prefetched from
     * one device to the other): a CPU read fetches the block and keeps both
     * replicas; a later write drops them. A CPU write first drops them at once. */
    p[7] = 7 * 7 + 3;
    ASSERT_OK(ums_advise(p, n, UMS_ADVISE_READ_MOSTLY, UMS_LOCATION_NONE));
    for (int write_first = 0; write_first < 2; write_first++) {
        ASSERT_OK(ums_migrate(p, n, sim0));
        ASSERT_OK(ums_prefetch(p, n, sim1, &ev));
        ASSERT_OK(ums_event_wait(ev, UINT64_MAX));
        ASSERT_OK(ums_event_release(ev));
        ASSERT_OK(ums_query(p, n, info, 8, &count));
        for (size_t i = 0; i < count; i++) {
            ASSERT_EQ(info[i].state, UMS_BLOCK_SHARED);
            ASSERT_EQ(info[i].valid, (1ull << sim0) | (1ull << sim1));
        }
        unsigned char want = (unsigned char)((2 * bs + 9) * 7 + 3);
        if (!write_first) {
            ASSERT_EQ(p[2 * bs + 9], want);
            ASSERT_OK(ums_query(p + 2 * bs, 1, info, 1, &count));
            ASSERT_EQ(info[0].state, UMS_BLOCK_SHARED);
            ASSERT_EQ(info[0].valid, (1ull << host) | (1ull << sim0) | (1ull << sim1));
        }
        p[2 * bs + 9] = (unsigned char)(want + 1);
        ASSERT_OK(ums_query(p + 2 * bs, 1, info, 1, &count));
        ASSERT_EQ(info[0].state, UMS_BLOCK_HOST);
        ASSERT_EQ(info[0].valid, 1ull << host);
        ASSERT_EQ(p[2 * bs + 9], (unsigned char)(want + 1));
        p[2 * bs + 9] = want;
        for (size_t i = 0; i < n; i++)
            if (p[i] != (unsigned char)(i * 7 + 3)) FAIL_("byte %zu: %u after fetch from replicas", i, p[i]);
    }

    ASSERT_OK(ums_free(p));
    ASSERT_RESULT(UMS_ERR_NOT_MANAGED, ums_free(p));
    ASSERT_OK(ums_runtime_destroy(rt));
    printf("ok\n");
    return 0;
}
