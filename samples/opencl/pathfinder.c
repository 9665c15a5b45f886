/* A dynamic-programming grid, row by row (as Rodinia's pathfinder): the cost of
 * reaching cell (r, c) is wall[r][c] plus the cheapest of the three cells above.
 * One launch per row, each given interior pointers into the managed grids: the
 * row above (read) and the row to compute (written), and that row of walls.
 * Interior pointers must be multiples of the device's base address alignment
 * (128 bytes on POCL): rows of 2048 ints are. The grid stays on the device
 * across launches; the CPU reads a row halfway and the last row at the end.
 * Checked against the same recurrence on plain memory. */
#include "common.h"

static const char *source =
    "kernel void row(const global int *above, const global int *wall, global int *cost, uint cols) {\n"
    "    size_t c = get_global_id(0);\n"
    "    if (c >= cols) return;\n"
    "    int best = above[c];\n"
    "    if (c > 0) best = min(best, above[c - 1]);\n"
    "    if (c + 1 < cols) best = min(best, above[c + 1]);\n"
    "    cost[c] = wall[c] + best;\n"
    "}\n";

int main(void) {
    sample_device d;
    sample_open_device(0, 1, &d);
    const size_t rows = 512, cols = 2048;
    int *wall, *cost, *ref = malloc(rows * cols * sizeof *ref);
    UMS_CHECK(ums_alloc(rows * cols * sizeof *wall, 0, (void **)&wall));
    UMS_CHECK(ums_alloc(rows * cols * sizeof *cost, 0, (void **)&cost));
    unsigned seed = 7;
    for (size_t i = 0; i < rows * cols; i++) {
        seed = seed * 1103515245u + 12345u;
        wall[i] = (int)((seed >> 16) % 10);
    }
    for (size_t c = 0; c < cols; c++) cost[c] = ref[c] = wall[c];
    for (size_t r = 1; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            const int *above = ref + (r - 1) * cols;
            int best = above[c];
            if (c > 0 && above[c - 1] < best) best = above[c - 1];
            if (c + 1 < cols && above[c + 1] < best) best = above[c + 1];
            ref[r * cols + c] = wall[r * cols + c] + best;
        }

    cl_program prog;
    cl_kernel k = sample_kernel(&d, source, "row", &prog);
    cl_uint uc = (cl_uint)cols;
    CL_CHECK(clSetKernelArg(k, 3, sizeof uc, &uc));
    printf("pathfinder on %s: %zu rows of %zu cells, one launch per row\n", d.name, rows, cols);
    sample_moves("start");
    size_t bad = 0;
    double t0 = sample_now();
    for (size_t r = 1; r < rows; r++) {
        UMS_CHECK(ums_cl_set_kernel_arg(k, 0, cost + (r - 1) * cols, UMS_CL_ACCESS_DEFAULT));
        UMS_CHECK(ums_cl_set_kernel_arg(k, 1, wall + r * cols, UMS_CL_ACCESS_DEFAULT));
        UMS_CHECK(ums_cl_set_kernel_arg(k, 2, cost + r * cols, UMS_CL_ACCESS_DEFAULT));
        size_t global = cols;
        UMS_CHECK(ums_cl_enqueue_kernel(d.queue, k, 1, NULL, &global, NULL, 0, NULL, NULL));
        if (r == rows / 2) {
            /* The CPU looks at the row just computed: it fetches it (the launch after moves it back). */
            for (size_t c = 0; c < cols; c++) bad += cost[r * cols + c] != ref[r * cols + c];
            sample_moves("halfway, CPU read a row");
        }
    }
    double dt = sample_now() - t0;
    for (size_t c = 0; c < cols; c++) bad += cost[(rows - 1) * cols + c] != ref[(rows - 1) * cols + c];
    int best = cost[(rows - 1) * cols];
    for (size_t c = 1; c < cols; c++)
        if (cost[(rows - 1) * cols + c] < best) best = cost[(rows - 1) * cols + c];
    sample_moves("end, CPU read the last row");
    sample_residency("wall", wall, rows * cols * sizeof *wall);
    sample_residency("cost", cost, rows * cols * sizeof *cost);
    printf("pathfinder: cheapest path %d, %zu cells differ from the CPU reference; %.1f us per launch\n", best, bad,
           dt / (double)(rows - 1) * 1e6);

    UMS_CHECK(ums_cl_forget_kernel(k));
    clReleaseKernel(k);
    clReleaseProgram(prog);
    sample_close_device(&d);
    UMS_CHECK(ums_free(wall));
    UMS_CHECK(ums_free(cost));
    free(ref);
    return bad ? 1 : 0;
}
