#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/env/file_system.h"
#include "disk/completion_sink.h"
#include "disk/latency_histogram.h"

namespace walle::disk {

// The production FileSystem: real files in one data directory.
//
// Threading. Every asynchronous operation of the file system (on any of its files, and the
// directory operations) is queued, in submission order, for ONE background I/O thread that
// executes them one at a time with plain syscalls (pwrite, pread, fdatasync, ftruncate,
// renameat, unlinkat, fsync of the directory). Each operation's completion callback is handed
// to the CompletionSink, never run on the I/O thread; the sink (the runtime's event loop) runs
// them in order, so operations complete in submission order as the contract requires.
// open(), list() and exists() are synchronous and run on the calling thread; they see every
// directory change that has executed, which includes every completed one and possibly some
// still queued (do not race them against your own pending rename/remove of the same name).
//
// The queue has no fixed capacity: it is bounded by its callers (the storage engine limits the
// writes it has in flight), and submitting never blocks the event loop.
//
// Sizes. File::size() is the file's size as of the last *completed* write or truncate of the
// file: the I/O thread records the size each write leaves behind, and the completion updates
// the file's size on the loop thread just before the callback runs (as in the simulator, where
// a write takes effect when it completes). It costs no syscall, and it never shows a write
// whose callback has not run yet. append() writes at the file's end as of execution, tracked
// on the I/O thread. All handles open on one inode (the same name opened twice) share this
// state.
//
// Sync coalescing. Each file remembers, on the I/O thread, whether it was written or truncated
// since its last successful fdatasync. A sync() of a file that was not is satisfied without a
// syscall: so consecutive queued syncs of one file with no write between them share one
// fdatasync. A file is considered dirty when opened (an earlier process may have left unsynced
// writes in the page cache).
//
// A failed fdatasync is sticky for the file: Linux may drop the dirty pages after reporting the
// error once, so a later fdatasync could report OK for data that never reached the disk. Every
// later sync() of the file (through any handle open on it) fails with the first error.
//
// A failed write leaves the file's size as it was (the grown part is truncated away), as the
// simulator does; bytes it overwrote below the old end may be partly rewritten.
//
// The data directory is locked (flock on the directory) while the file system is open: a second
// PosixFileSystem on the same directory, in this or another process, fails to open. It owns the
// directory's names then: they are read once at open and kept in memory, so list() and
// exists() make no system call (a server with 10,000 streams lists its directory once, not
// once per stream). Files created, renamed or removed behind its back are not seen.
//
// Descriptors. With Options::max_open_files set, at most that many of the files' descriptors
// stay open (a server with 10,000 streams would otherwise hold one per segment): using a file
// whose descriptor was closed reopens it by name, closing the least recently used one first.
// A descriptor with unsynced writes is fdatasynced before it closes (its write errors must
// reach this process, not vanish with the descriptor), so a cap below the number of files in
// steady use costs syncs. A file that was removed or renamed over while open keeps its
// descriptor until its last handle closes (it has no name to reopen by). The cap may be
// passed briefly: open() opens a descriptor at once, the I/O thread closes the surplus.
//
// Lifetime: every File must be closed before the file system is destroyed. The destructor
// executes every queued operation and posts its completion to the sink, then joins the I/O
// thread; the sink must outlive the file system.
class PosixFileSystem final : public FileSystem {
 public:
  // Opens (creating it and missing parents if needed) the data directory `dir`. Completions
  // go to `sink`.
  struct Options {
    // Descriptors of data files kept open at most (see "Descriptors" above); 0: no cap.
    size_t max_open_files = 0;
  };
  static absl::StatusOr<std::unique_ptr<PosixFileSystem>> Open(std::string_view dir,
                                                               CompletionSink& sink,
                                                               Options options);
  static absl::StatusOr<std::unique_ptr<PosixFileSystem>> Open(std::string_view dir,
                                                               CompletionSink& sink) {
    return Open(dir, sink, Options{});
  }
  ~PosixFileSystem() override;

  PosixFileSystem(const PosixFileSystem&) = delete;
  PosixFileSystem& operator=(const PosixFileSystem&) = delete;

  // FileSystem.
  absl::StatusOr<std::unique_ptr<File>> open(std::string_view name, OpenMode mode) override;
  std::vector<std::string> list(std::string_view prefix = {}) const override;
  bool exists(std::string_view name) const override;
  void rename(std::string_view from, std::string_view to, IoDone done) override;
  void remove(std::string_view name, IoDone done) override;
  void sync_dir(IoDone done) override;

  const std::string& dir() const { return dir_; }

  // Counters, for tests and benchmarks. Read after an operation's completion has run, they
  // include that operation.
  struct Stats {
    uint64_t operations = 0;  // executed on the I/O thread
    uint64_t syncs = 0;       // File::sync() calls executed
    uint64_t fdatasyncs = 0;  // fdatasync syscalls those needed (fewer: coalesced)
    uint64_t open_descriptors = 0;  // data files' descriptors open now
    uint64_t reopens = 0;           // descriptors reopened after the cap closed them
    uint64_t closed_for_cap = 0;    // descriptors the cap closed (fdatasynced first if dirty)
  };
  Stats stats() const;
  // How long syncs waited in the queue behind other operations, and how long the fdatasync
  // syscalls took (coalesced syncs make none). Any thread may read them.
  const LatencyHistogram& sync_queue_latency() const { return sync_queue_latency_; }
  const LatencyHistogram& fdatasync_latency() const { return fdatasync_latency_; }
  // Operations submitted whose completion has not run yet (a server stopping waits for 0).
  uint64_t in_flight() const { return in_flight_->load(std::memory_order_relaxed); }

 private:
  class PosixFile;
  struct Inode;
  struct Descriptors;
  struct Handle;
  // Runs on the I/O thread; returns the completion to post to the sink.
  using Operation = absl::AnyInvocable<absl::AnyInvocable<void()>()>;

  PosixFileSystem(std::string dir, int dir_fd, absl::btree_set<std::string, std::less<>> names,
                  CompletionSink& sink, Options options);

  // Queues `op` behind every earlier operation.
  void submit(Operation op);
  void io_loop();
  std::string path(std::string_view name) const;

  // Operations on the I/O thread.
  absl::Status write(Handle& handle, bool append, uint64_t offset, std::string_view data);
  absl::Status write_zeros(Handle& handle, uint64_t offset, uint64_t length);
  absl::Status allocate(Handle& handle, uint64_t offset, uint64_t length);
  void release_cache(Handle& handle, uint64_t offset);
  absl::StatusOr<std::string> read(Handle& handle, uint64_t offset, uint64_t length);
  absl::Status sync(Handle& handle);
  absl::Status truncate(Handle& handle, uint64_t size);
  // Re-learns an inode's size from fstat after a failed write or truncate.
  void refresh_end(Inode& inode);
  // Makes sure `inode` has an open descriptor (reopening it by name if the cap closed it), and
  // closes the least recently used others while more than the cap are open. I/O thread only:
  // it alone closes descriptors, so one it made sure of stays open for its operation.
  absl::Status ensure_open(Inode& inode);
  absl::Status ensure_open_locked(Inode& inode);
  void close_surplus_locked(const Inode* keep);
  // Keeps `inode`'s descriptor open for good (a rename over it or its removal is about to take
  // its name), or, if that failed, puts it back under the cap.
  void pin_locked(Inode& inode);
  void unpin_locked(Inode& inode);
  // Before a rename over `name` or its removal: the inode open under it (nullptr: none), its
  // descriptor opened and pinned, since the name it would be reopened by is about to go.
  absl::StatusOr<Inode*> pin_name_locked(const std::string& name);
  // After that change: done (`changed`), the inode has no name; failed, it is unpinned.
  void settle_pinned_locked(Inode* inode, const std::string& name, bool changed);

  const std::string dir_;
  const int dir_fd_;  // O_DIRECTORY, flock'ed; used by every *at() call
  CompletionSink& sink_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Operation> queue_;  // guarded by queue_mu_
  bool stopping_ = false;        // guarded by queue_mu_
  std::shared_ptr<std::atomic<uint64_t>> in_flight_ = std::make_shared<std::atomic<uint64_t>>(0);

  // Inodes with a live handle or a queued operation, by (device, inode number), so that two
  // handles on one file share its size and sync state. Only open() touches it.
  std::mutex inodes_mu_;
  absl::flat_hash_map<std::pair<dev_t, ino_t>, std::weak_ptr<Inode>> inodes_;
  size_t inodes_swept_at_ = 0;  // inodes_' size after the last sweep of expired entries
  // Shared with the inodes, which may outlive the file system (a late completion holds one).
  std::shared_ptr<Descriptors> descriptors_;

  // The directory's regular files: read at open, then changed by open(), rename() and remove()
  // as they succeed.
  mutable std::mutex names_mu_;
  absl::btree_set<std::string, std::less<>> names_;  // guarded by names_mu_

  std::atomic<int64_t> open_files_{0};
  std::atomic<uint64_t> operations_{0};
  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> fdatasyncs_{0};
  LatencyHistogram sync_queue_latency_;
  LatencyHistogram fdatasync_latency_;

  std::thread io_thread_;  // last: starts after every other member is ready
};

}  // namespace walle::disk
