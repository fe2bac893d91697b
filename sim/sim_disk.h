#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "core/env/file_system.h"
#include "sim/config.h"
#include "sim/file_bytes.h"

namespace walle::sim {

class NodeHost;
class Prng;

// What a crash does to the writes that were never synced.
enum class CrashMode {
  kLoseAll,  // every unsynced write and directory change is gone
  kTorn,     // each dirty sector independently kept or lost; a prefix of directory changes kept
  kKeepAll,  // the OS flushed everything just before the crash
};

// One node's simulated disk (FoundationDB's AsyncFileNonDurable, TigerBeetle's storage):
// bytes live in memory; every file keeps, for each sector written since its last sync, the
// sector's durable content, so that a crash can decide sector by sector what landed.
// Operations run in submission order (all files and the directory: file_system.h) after a
// simulated latency, and complete through the node's incarnation guard: a crashed process
// never sees a completion.
class SimDisk final : public FileSystem {
 public:
  SimDisk(NodeHost& host, const DiskConfig& config);
  ~SimDisk() override;

  // FileSystem.
  absl::StatusOr<std::unique_ptr<File>> open(std::string_view name, OpenMode mode) override;
  std::vector<std::string> list(std::string_view prefix = {}) const override;
  bool exists(std::string_view name) const override;
  void rename(std::string_view from, std::string_view to, IoDone done) override;
  void remove(std::string_view name, IoDone done) override;
  void sync_dir(IoDone done) override;

  // Faults, driven by the simulation (not by the node).
  // Applies a crash to the disk image; open handles must already be closed.
  void crash(CrashMode mode);
  // Picks a crash mode allowed by the config.
  CrashMode random_crash_mode();
  // Called after each write lands in the page cache (not yet synced), with the file's name
  // and the write's size, for scenarios that crash a node at that moment; it must not touch
  // the disk itself. Empty: none.
  using WriteObserver = std::function<void(std::string_view name, uint64_t bytes)>;
  void set_write_observer(WriteObserver observer) { write_observer_ = std::move(observer); }
  // Erases everything: the machine got a new, empty disk.
  void wipe();
  // Flips one random bit of one random non-empty file (durable image included). Returns false
  // if every file is empty.
  bool flip_random_bit();
  // Makes one random sector of a random non-empty file unreadable until it is rewritten.
  bool inject_latent_error();
  // Rot aimed at the newest records: flips `flips` random bits among the last `window_bytes`
  // bytes written (up to the last non-zero byte) of the file with the greatest name that
  // contains `name_part` (spares and spares being prepared excluded). False if there is no such file or it is empty.
  bool rot_newest_records(std::string_view name_part, uint64_t window_bytes, int flips);
  // Targeted variants for tests.
  absl::Status flip_bit(std::string_view name, uint64_t offset, int bit);
  absl::Status add_latent_error(std::string_view name, uint64_t offset);

  DiskConfig& config() { return config_; }
  uint64_t used_bytes() const { return used_bytes_; }
  // Bit flips and latent errors injected since the disk was last wiped (checkers use it to
  // excuse a loss that the node detected and reported).
  uint64_t corruptions() const { return corruptions_; }

  // Raw view of a file's current content, for checkers and tests.
  absl::StatusOr<std::string> peek(std::string_view name) const;

 private:
  friend class SimFile;
  struct Inode {
    FileBytes data;             // what reads see
    uint64_t durable_size = 0;  // size as of the last sync
    // For every sector below the durable size changed since the last sync: its durable bytes
    // (short where the durable file ended). Sectors past it are dirty without an entry.
    absl::btree_map<uint64_t, std::string> durable_sectors;
    absl::btree_set<uint64_t> bad_sectors;  // latent read errors
    int open_handles = 0;
    std::string name;  // its latest name, for the readable trace
  };
  // std::less<> allows lookups by string_view without a copy.
  using NameMap = absl::btree_map<std::string, uint64_t, std::less<>>;
  struct DirOp {
    enum Kind { kCreate, kRename, kRemove } kind;
    std::string name;
    std::string to;  // kRename
    uint64_t inode = 0;
  };

  // Schedules `apply` after `latency_ns` behind every earlier operation, then `done` with
  // its result, for the process's current incarnation.
  // `op` and `ino` (0: a directory operation) label the readable trace.
  void submit(const char* op, uint64_t ino, int64_t latency_ns,
              absl::AnyInvocable<absl::Status()> apply, IoDone done);
  int64_t write_latency_ns(uint64_t bytes) const;
  int64_t sync_latency_ns();

  absl::StatusOr<Inode*> find_inode(uint64_t ino);
  // offset nullopt: at the end of the file when the write executes (append).
  absl::Status write(uint64_t ino, std::optional<uint64_t> offset, std::string_view bytes);
  // write() of `length` zeros, without them in memory.
  absl::Status write_zeros(uint64_t ino, uint64_t offset, uint64_t length);
  // Grows the file with zeros to at least offset + length (existing bytes stay).
  absl::Status allocate(uint64_t ino, uint64_t offset, uint64_t length);
  // What write() and write_zeros() share: checks and space, dirty sectors, `fill` puts the
  // bytes of [offset, offset + length) in place (growing the file first if needed), stats.
  template <class Fill>
  absl::Status write_with(uint64_t ino, std::optional<uint64_t> at, uint64_t length, Fill fill);
  absl::Status truncate(uint64_t ino, uint64_t size);
  absl::StatusOr<std::string> read(uint64_t ino, uint64_t offset, uint64_t length);
  absl::Status sync(uint64_t ino);
  void mark_dirty(Inode& inode, uint64_t first_sector, uint64_t end_sector);
  // The first sector wholly past the durable size: it and all after it are dirty, unlisted.
  uint64_t implicitly_dirty_from(const Inode& inode) const {
    return (inode.durable_size + config_.sector_size_bytes - 1) / config_.sector_size_bytes;
  }
  void crash_file(Inode& inode, CrashMode mode);
  void apply_dir_op(NameMap& names, const DirOp& op) const;
  void close(uint64_t ino);
  void collect_garbage();

  NodeHost& host_;
  DiskConfig config_;
  absl::btree_map<uint64_t, Inode> inodes_;
  NameMap names_;          // current directory
  NameMap durable_names_;  // as of the last sync_dir
  std::vector<DirOp> unsynced_dir_ops_;
  uint64_t next_inode_ = 1;
  uint64_t used_bytes_ = 0;
  uint64_t corruptions_ = 0;
  int64_t busy_until_ns_ = 0;  // the queue: operations complete in submission order
  WriteObserver write_observer_;
};

}  // namespace walle::sim
