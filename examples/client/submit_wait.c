/* examples/client/submit_wait.c - a control plane in C on libassay-client:
 * submits a JobSpec, waits for its jobs, prints one line per job, and
 * exits 0 when every check passed, 1 when one did not, 2 on an error.
 *
 *   cc $(pkg-config --cflags assay-client) -o submit_wait submit_wait.c \
 *      $(pkg-config --libs assay-client)
 *   ./submit_wait tcp://127.0.0.1:7400 spec.json
 *
 * ENDPOINTS may list every member ("tcp://a:7400,tcp://b:7400"): the
 * library finds the leader, and gives the JobSpec an id when it has none,
 * so that a retry after a leader change cannot submit it twice. */
#include <stdio.h>
#include <string.h>

#include <assay/client.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s ENDPOINTS SPEC.json\n", argv[0]);
        return 2;
    }
    json_error_t je;
    json_t *spec = json_load_file(argv[2], JSON_REJECT_DUPLICATES, &je);
    if (!spec) {
        fprintf(stderr, "%s:%d: %s\n", argv[2], je.line, je.text);
        return 2;
    }
    assay_client_opts opts = ASSAY_CLIENT_OPTS_INIT;
    opts.endpoints = argv[1];
    opts.timeout_ms = 10000;
    assay_client *cl;
    char err[512];
    if (assay_client_new(&opts, &cl, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        json_decref(spec);
        return 2;
    }
    json_t *reply = NULL, *jobs = NULL;
    int rc = assay_client_submit(cl, spec, &reply);
    json_decref(spec);
    if (!rc) {
        const char *ids[] = {
            json_string_value(json_object_get(reply, "spec"))};
        printf("spec %s\n", ids[0]);
        rc = assay_client_wait(cl, ids, 1, 60000, &jobs);
    }
    int code = rc ? 2 : 0;
    if (rc)
        fprintf(stderr, "%s\n", assay_client_error(cl));
    size_t i;
    json_t *job;
    json_array_foreach(jobs, i, job) {
        const char *state = json_string_value(json_object_get(job, "state"));
        const char *status = json_string_value(json_object_get(
            json_object_get(job, "result"), "status"));
        printf("%s %s %s\n", json_string_value(json_object_get(job, "id")),
               state, status ? status : "-");
        if (!code && (!status || strcmp(status, "pass")))
            code = 1;
    }
    json_decref(jobs);
    json_decref(reply);
    assay_client_destroy(&cl);
    return code;
}
