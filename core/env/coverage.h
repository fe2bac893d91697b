#pragma once

// Coverage: protocol and recovery paths the simulator must reach. Each is counted when taken
// (WALLE_COVER); the simulator sums the counts per seed and `walle-sim sweep` prints them, so
// a path with count 0 is one no checker ever judged (docs/simulation.md, "Coverage").
// nullptr in production: counting costs one branch. BUGGIFY's fault points are paths too:
// a point that never fires tests nothing.

#include <array>
#include <cstddef>
#include <cstdint>

namespace walle {

enum class CoveragePath : uint8_t {
  kGapCommit,                // a replica stored a committed entry beyond its tail
  kDivergentRepair,          // a claim repaired a follower that diverged inside its own tail
  kStampIdDisagreement,      // choosing the claim's tail by id alone would have differed
  kQueueMerge,               // a replica's ordering queue held puts of two writers at once
  kTakeoverUnderLiveLease,   // a preempting claim went ahead of a live lease
  kRotMemberExcluded,        // a claim left out a member whose damage is rot
  kUncertainTailsVote,       // a claim counted uncertain tails once every member answered
  kRefill,                   // backfill refilled missing ids from a peer
  kFastForwardReplacesSuffix,  // backfill replaced a superseded uncommitted suffix
  kResolverClaim,            // a replica started a no-writer resolver claim
  kRecoveryTornTail,         // recovery cut a torn tail
  kRecoveryUncommittedHole,  // recovery dropped entries after an uncommitted hole
  kRecoveryCommittedHole,    // recovery listed committed ids lost to corruption as missing
  kRecoveryUncertain,        // recovery's verdict: uncertain (torn or rot)
  kRecoveryRot,              // recovery's verdict: rot
  kRecoveryUnreadable,       // recovery read around unreadable sectors
  kJournalRedo,              // a journal's open wrote its records back into the logs' files
  kJournalCheckpoint,        // a journal synced its logs' files and could trim its oldest segment
  // BUGGIFY fault points (core/env/buggify.h): counted when they fire.
  kBuggifyShortSegments,     // the store rolls its segment after an append
  kBuggifySparseIndex,       // the store indexes sparsely
  kBuggifyTinyReadChunks,    // the store reads 64 bytes at a time
  kBuggifyQueueFull,         // a replica refuses to queue a put (the sender retries)
  kBuggifyQueueExpiresEarly, // a replica's queued puts time out at once
  kBuggifyOneEntryRepair,    // a claim copies one entry per read
  kBuggifyPhaseTimeout,      // a claim's phase times out at once (spurious)
  kBuggifyDelayedResend,     // a writer resends late
  kBuggifyEarlyResend,       // a writer resends unacknowledged puts at once (duplicates)
  kBuggifyHeartbeatJitter,   // a writer's heartbeat comes late (its lease may lapse)
  kBuggifyOneEntryBackfill,  // backfill fetches one entry per read
  kBuggifyProbeNow,          // an anti-entropy probe runs at once
  kCount,
};

inline constexpr size_t kCoveragePaths = static_cast<size_t>(CoveragePath::kCount);

// Names as the sweep prints them, in enum order.
inline constexpr std::array<const char*, kCoveragePaths> kCoveragePathNames = {
    "gap_commit",          "divergent_repair",      "stamp_id_disagreement",
    "queue_merge",         "takeover_under_lease",  "rot_member_excluded",
    "uncertain_tails_vote", "refill",               "fast_forward_replaces_suffix",
    "resolver_claim",      "recovery_torn_tail",    "recovery_uncommitted_hole",
    "recovery_committed_hole", "recovery_uncertain", "recovery_rot",
    "recovery_unreadable", "journal_redo", "journal_checkpoint",
    "buggify_short_segments", "buggify_sparse_index", "buggify_tiny_read_chunks",
    "buggify_queue_full",     "buggify_queue_expires_early", "buggify_one_entry_repair",
    "buggify_phase_timeout",  "buggify_delayed_resend", "buggify_early_resend",
    "buggify_heartbeat_jitter", "buggify_one_entry_backfill", "buggify_probe_now",
};

class Coverage {
 public:
  virtual ~Coverage() = default;
  virtual void hit(CoveragePath path) = 0;
};

}  // namespace walle

#define WALLE_COVER(env, path)                                     \
  do {                                                             \
    if ((env).coverage != nullptr) (env).coverage->hit(path);      \
  } while (0)
