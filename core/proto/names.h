/* core/proto/names.h - every name the wire protocols use, in one place
 * (docs/protocol.md): the protocol frames, the control-plane services,
 * the runtime link's commands and the event topics. Code compares and
 * sends these constants, never a literal, so a rename is one line and a
 * reader finds every use of a command from here. */
#ifndef ASSAY_CORE_PROTO_NAMES_H
#define ASSAY_CORE_PROTO_NAMES_H

/* ---- Protocol frames ---------------------------------------------------- */
#define ASSAY_MDP_CLIENT "MDPC01"     /* control plane: ZeroMQ RFC 7 client */
#define ASSAY_RUNTIME_PROTO "ASSAYR1" /* runtime link */

/* ---- Control-plane services ------------------------------------------- */
#define ASSAY_SVC_SUBMIT "assay.submit"
#define ASSAY_SVC_JOB "assay.job"
#define ASSAY_SVC_JOBS "assay.jobs"
#define ASSAY_SVC_CANCEL "assay.cancel"
#define ASSAY_SVC_RUNTIMES "assay.runtimes"
#define ASSAY_SVC_PLUGINS "assay.plugins"
#define ASSAY_SVC_RESCAN "assay.rescan"
#define ASSAY_SVC_CLUSTER "assay.cluster"
#define ASSAY_SVC_KEYS "assay.keys"
#define ASSAY_SVC_ENROL "assay.enrol"
#define ASSAY_SVC_SCHEDULE "assay.schedule"
#define ASSAY_SVC_RESTART "assay.restart"
#define ASSAY_SVC_STATS "assay.stats"
#define ASSAY_SVC_STREAM "assay.stream"
/* RFC 8 service discovery; its bodies are plain text. */
#define ASSAY_SVC_MMI_PREFIX "mmi."
#define ASSAY_SVC_MMI_SERVICE "mmi.service"

/* ---- Runtime link: runtime -> member ---------------------------------- */
#define ASSAY_RT_REGISTER "register"
#define ASSAY_RT_HEARTBEAT "heartbeat"
#define ASSAY_RT_RESULT "result"
#define ASSAY_RT_CATALOG "catalog"
#define ASSAY_RT_BYE "bye"

/* ---- Runtime link: member -> runtime ---------------------------------- */
#define ASSAY_RT_REGISTERED "registered"
#define ASSAY_RT_PULSE "pulse"
#define ASSAY_RT_DISPATCH "dispatch"
#define ASSAY_RT_ACK "ack"
#define ASSAY_RT_CANCEL "cancel"
#define ASSAY_RT_RESCAN "rescan"
#define ASSAY_RT_REDIRECT "redirect"
#define ASSAY_RT_REREGISTER "reregister"

/* ---- Event topics ------------------------------------------------------- */
#define ASSAY_EV_JOB_QUEUED "job.queued"
#define ASSAY_EV_JOB_RUNNING "job.running"
#define ASSAY_EV_JOB_COMPLETED "job.completed"
#define ASSAY_EV_JOB_FAILED "job.failed"
#define ASSAY_EV_JOB_CANCELLED "job.cancelled"
/* A check's result changed from pass to not, or back (drift). */
#define ASSAY_EV_FINDING_REGRESSED "finding.regressed"
#define ASSAY_EV_FINDING_FIXED "finding.fixed"
#define ASSAY_EV_RUNTIME_ALIVE "runtime.alive"
#define ASSAY_EV_RUNTIME_DEAD "runtime.dead"
#define ASSAY_EV_RUNTIME_GONE "runtime.gone"
#define ASSAY_EV_RUNTIME_PLUGINS "runtime.plugins"
/* A schedule decided a fire (state/schedule.h): started, buffered,
 * skipped, missed, nonexistent or failed. */
#define ASSAY_EV_SCHEDULE_RUN "schedule.run"
/* Not an event: the member's answer to a subscription, which says the
 * subscriptions before it are live. */
#define ASSAY_EV_WELCOME "assay.welcome"

#endif
