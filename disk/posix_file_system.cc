#include "disk/posix_file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/util/check.h"
#include "disk/errno_status.h"

namespace walle::disk {
namespace {

constexpr uint64_t kMaxOffset = static_cast<uint64_t>(std::numeric_limits<off_t>::max());
// Reads at least this long ask the file system where data is and skip holes.
constexpr uint64_t kSkipHolesFrom = 64 * 1024;

int64_t monotonic_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

// Retries a syscall interrupted by a signal.
template <typename F>
auto retry_eintr(F&& f) {
  for (;;) {
    auto r = f();
    if (r >= 0 || errno != EINTR) return r;
  }
}

// Creates `dir` and its missing parents (mode 0755), making each new entry durable by fsyncing
// the directory that holds it.
absl::Status make_directories(const std::string& dir) {
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    const std::string prefix = dir.substr(0, pos);
    if (prefix.empty() || prefix.back() == '/') continue;  // "//" or a trailing '/'
    if (::mkdir(prefix.c_str(), 0755) == 0) {
      const size_t slash = prefix.rfind('/');
      const std::string parent =
          slash == std::string::npos ? "." : (slash == 0 ? "/" : prefix.substr(0, slash));
      const int fd =
          retry_eintr([&] { return ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
      if (fd < 0) {
        const int err = errno;
        return ErrnoToStatus(err, absl::StrCat("open directory ", parent));
      }
      const int r = retry_eintr([&] { return ::fsync(fd); });
      const int err = errno;
      ::close(fd);
      if (r != 0) return ErrnoToStatus(err, absl::StrCat("fsync directory ", parent));
    } else if (const int err = errno; err != EEXIST) {
      return ErrnoToStatus(err, absl::StrCat("create data directory ", prefix));
    }
  }
  return absl::OkStatus();
}

// The names of the regular files in the directory `dir_fd` (`dir`, for messages). A directory
// that cannot be read fails the open: an empty answer could make a store think its data is gone.
absl::StatusOr<absl::btree_set<std::string, std::less<>>> read_directory(const std::string& dir,
                                                                        int dir_fd) {
  // A fresh descriptor: the directory stream's position must not be shared.
  const int fd =
      retry_eintr([&] { return ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd < 0) {
    const int err = errno;
    return ErrnoToStatus(err, absl::StrCat("open directory ", dir));
  }
  DIR* stream = ::fdopendir(fd);
  if (stream == nullptr) {
    const int err = errno;
    ::close(fd);
    return ErrnoToStatus(err, absl::StrCat("fdopendir ", dir));
  }
  absl::btree_set<std::string, std::less<>> names;
  absl::Status status;
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(stream);
    if (entry == nullptr) {
      if (const int err = errno; err != 0) {
        status = ErrnoToStatus(err, absl::StrCat("read directory ", dir));
      }
      break;
    }
    bool regular = entry->d_type == DT_REG;
    if (entry->d_type == DT_UNKNOWN) {
      struct stat st;
      if (::fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        regular = S_ISREG(st.st_mode);
      } else if (const int err = errno; err != ENOENT) {  // ENOENT: removed meanwhile
        status = ErrnoToStatus(err, absl::StrCat("stat ", dir, "/", entry->d_name));
        break;
      }
    }
    if (regular) names.emplace(entry->d_name);
  }
  ::closedir(stream);
  if (!status.ok()) return status;
  return names;
}

}  // namespace

// The data files' descriptors and the cap on them (see "Descriptors" in the header). Guarded
// by `mu`, except that an inode's `fd` is changed only on the I/O thread (and by the inode's
// constructor and destructor), so the I/O thread may use a descriptor without the lock.
struct PosixFileSystem::Descriptors {
  std::mutex mu;
  size_t max_open = 0;            // 0: no cap
  size_t open = 0;                // descriptors open, pinned ones included
  std::list<Inode*> lru;          // inodes with an open, unpinned descriptor, most recent first
  absl::flat_hash_map<std::string, Inode*> by_name;  // live inodes by their current name
  uint64_t reopens = 0;
  uint64_t closed_for_cap = 0;
};

// One file (inode) with at least one handle or queued operation. Owns the descriptor.
struct PosixFileSystem::Inode {
  Inode(std::shared_ptr<Descriptors> descriptors, int fd, uint64_t size, std::string name,
        dev_t dev, ino_t ino)
      : descriptors(std::move(descriptors)),
        fd(fd),
        name(std::move(name)),
        dev(dev),
        ino(ino),
        end(size),
        completed_size(size) {
    std::lock_guard<std::mutex> lock(this->descriptors->mu);
    ++this->descriptors->open;
    this->descriptors->by_name[this->name] = this;
    lru_position = this->descriptors->lru.insert(this->descriptors->lru.begin(), this);
    in_lru = true;
  }
  ~Inode() {
    std::lock_guard<std::mutex> lock(descriptors->mu);
    if (in_lru) descriptors->lru.erase(lru_position);
    if (auto it = descriptors->by_name.find(name); it != descriptors->by_name.end() && it->second == this) {
      descriptors->by_name.erase(it);
    }
    if (fd >= 0) {
      ::close(fd);
      --descriptors->open;
    }
  }
  Inode(const Inode&) = delete;
  Inode& operator=(const Inode&) = delete;

  const std::shared_ptr<Descriptors> descriptors;
  int fd;            // -1: closed by the cap, reopened by name when next used
  std::string name;  // its current name; empty once removed or renamed over (it is pinned then)
  bool pinned = false;  // no name to reopen by: its descriptor stays open
  bool in_lru = false;
  std::list<Inode*>::iterator lru_position;
  const dev_t dev;
  const ino_t ino;
  // I/O thread only (initialised before the first operation is queued).
  uint64_t end;               // size after the last executed operation: where append() writes
  bool dirty = true;          // written or truncated since the last successful fdatasync
  uint64_t released_to = 0;   // release_cache_below() dropped the pages below this
  absl::Status sync_failure;  // the first failed fdatasync: every later sync reports it
  // Set by completions (the sink's thread), read by File::size().
  std::atomic<uint64_t> completed_size;
};

// What an operation of one handle needs; shared by the handle and its queued operations, so
// that a handle may close while its operations are still queued.
struct PosixFileSystem::Handle {
  std::shared_ptr<Inode> inode;
  std::string name;
};

class PosixFileSystem::PosixFile final : public File {
 public:
  PosixFile(PosixFileSystem& fs, std::shared_ptr<Handle> handle)
      : fs_(fs), handle_(std::move(handle)) {
    fs_.open_files_.fetch_add(1);
  }
  ~PosixFile() override { fs_.open_files_.fetch_sub(1); }

  const std::string& name() const override { return handle_->name; }

  uint64_t size() const override {
    return handle_->inode->completed_size.load(std::memory_order_acquire);
  }

  void append(std::string data, IoDone done) override {
    submit_write(/*append=*/true, 0, std::move(data), std::move(done));
  }

  void write_at(uint64_t offset, std::string data, IoDone done) override {
    submit_write(/*append=*/false, offset, std::move(data), std::move(done));
  }

  void zero_fill(uint64_t offset, uint64_t length, IoDone done) override {
    fs_.submit([fs = &fs_, h = handle_, offset, length,
                done = std::move(done)]() mutable -> absl::AnyInvocable<void()> {
      absl::Status status = fs->write_zeros(*h, offset, length);
      return completion(std::move(h), std::move(status), std::move(done));
    });
  }

  void allocate(uint64_t offset, uint64_t length, IoDone done) override {
    fs_.submit([fs = &fs_, h = handle_, offset, length,
                done = std::move(done)]() mutable -> absl::AnyInvocable<void()> {
      absl::Status status = fs->allocate(*h, offset, length);
      return completion(std::move(h), std::move(status), std::move(done));
    });
  }

  void read_at(uint64_t offset, uint64_t length, ReadDone done) override {
    fs_.submit([fs = &fs_, h = handle_, offset, length,
                done = std::move(done)]() mutable -> absl::AnyInvocable<void()> {
      absl::StatusOr<std::string> result = fs->read(*h, offset, length);
      return [result = std::move(result), done = std::move(done)]() mutable {
        done(std::move(result));
      };
    });
  }

  void release_cache_below(uint64_t offset) override {
    fs_.submit([fs = &fs_, h = handle_, offset]() mutable -> absl::AnyInvocable<void()> {
                 fs->release_cache(*h, offset);
                 return [h = std::move(h)] {};  // the handle may close only after it ran
               });
  }

  void sync(IoDone done) override {
    fs_.submit(
        [fs = &fs_, h = handle_, queued_at = monotonic_ns(),
         done = std::move(done)]() mutable -> absl::AnyInvocable<void()> {
          fs->sync_queue_latency_.record(monotonic_ns() - queued_at);
          absl::Status status = fs->sync(*h);
          return [status = std::move(status), done = std::move(done)]() mutable {
            done(std::move(status));
          };
        });
  }

  void truncate(uint64_t size_bytes, IoDone done) override {
    fs_.submit([fs = &fs_, h = handle_, size_bytes,
                done = std::move(done)]() mutable -> absl::AnyInvocable<void()> {
      absl::Status status = fs->truncate(*h, size_bytes);
      return completion(std::move(h), std::move(status), std::move(done));
    });
  }

 private:
  void submit_write(bool append, uint64_t offset, std::string data, IoDone done) {
    fs_.submit([fs = &fs_, h = handle_, append, offset, data = std::move(data),
                done = std::move(done)]() mutable -> absl::AnyInvocable<void()> {
      absl::Status status = fs->write(*h, append, offset, data);
      std::string().swap(data);  // free the buffer on the I/O thread, not at completion
      return completion(std::move(h), std::move(status), std::move(done));
    });
  }

  // Completion of an operation that may change the size: publishes the size it left (read on
  // the I/O thread now), then runs `done`.
  static absl::AnyInvocable<void()> completion(std::shared_ptr<Handle> h, absl::Status status,
                                               IoDone done) {
    const uint64_t size_after = h->inode->end;
    return [h = std::move(h), size_after, status = std::move(status),
            done = std::move(done)]() mutable {
      h->inode->completed_size.store(size_after, std::memory_order_release);
      done(std::move(status));
    };
  }

  PosixFileSystem& fs_;
  std::shared_ptr<Handle> handle_;
};

absl::StatusOr<std::unique_ptr<PosixFileSystem>> PosixFileSystem::Open(std::string_view dir,
                                                                       CompletionSink& sink,
                                                                       Options options) {
  if (dir.empty()) return absl::InvalidArgumentError("data directory path is empty");
  std::string path(dir);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (absl::Status s = make_directories(path); !s.ok()) return s;
  const int fd =
      retry_eintr([&] { return ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd < 0) {
    const int err = errno;
    if (err == ENOTDIR) {
      return absl::FailedPreconditionError(
          absl::StrCat("data directory ", path, " exists and is not a directory"));
    }
    return ErrnoToStatus(err, absl::StrCat("open data directory ", path));
  }
  if (retry_eintr([&] { return ::flock(fd, LOCK_EX | LOCK_NB); }) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data directory ", path, " is in use by another file system (it is flock'ed)"));
    }
    return ErrnoToStatus(err, absl::StrCat("lock data directory ", path));
  }
  absl::StatusOr<absl::btree_set<std::string, std::less<>>> names = read_directory(path, fd);
  if (!names.ok()) {
    ::close(fd);
    return names.status();
  }
  return std::unique_ptr<PosixFileSystem>(
      new PosixFileSystem(std::move(path), fd, *std::move(names), sink, options));
}

PosixFileSystem::PosixFileSystem(std::string dir, int dir_fd,
                                 absl::btree_set<std::string, std::less<>> names,
                                 CompletionSink& sink, Options options)
    : dir_(std::move(dir)),
      dir_fd_(dir_fd),
      sink_(sink),
      descriptors_(std::make_shared<Descriptors>()),
      names_(std::move(names)),
      io_thread_([this] { io_loop(); }) {
  descriptors_->max_open = options.max_open_files;
  // Best effort: a name for debuggers and top.
  pthread_setname_np(io_thread_.native_handle(), "walle-io");
}

PosixFileSystem::~PosixFileSystem() {
  WALLE_CHECK_MSG(open_files_.load() == 0,
                  "a File outlived its PosixFileSystem: close every file first");
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_one();
  io_thread_.join();
  ::close(dir_fd_);  // releases the flock
}

void PosixFileSystem::submit(Operation op) {
  in_flight_->fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    WALLE_CHECK_MSG(!stopping_, "I/O submitted to a PosixFileSystem being destroyed");
    queue_.push_back(std::move(op));
  }
  queue_cv_.notify_one();
}

void PosixFileSystem::io_loop() {
  std::deque<Operation> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      batch.swap(queue_);
    }
    while (!batch.empty()) {
      absl::AnyInvocable<void()> completion = batch.front()();
      batch.pop_front();  // drops the operation's buffers and references here
      operations_.fetch_add(1, std::memory_order_relaxed);
      // The counter is shared: a completion may run after the file system is gone.
      sink_.post([in_flight = in_flight_, completion = std::move(completion)]() mutable {
        completion();
        in_flight->fetch_sub(1, std::memory_order_relaxed);
      });
    }
  }
}

std::string PosixFileSystem::path(std::string_view name) const {
  return absl::StrCat(dir_, dir_ == "/" ? "" : "/", std::string(name));
}

PosixFileSystem::Stats PosixFileSystem::stats() const {
  Stats s;
  s.operations = operations_.load();
  s.syncs = syncs_.load();
  s.fdatasyncs = fdatasyncs_.load();
  std::lock_guard<std::mutex> lock(descriptors_->mu);
  s.open_descriptors = descriptors_->open;
  s.reopens = descriptors_->reopens;
  s.closed_for_cap = descriptors_->closed_for_cap;
  return s;
}

absl::StatusOr<std::unique_ptr<File>> PosixFileSystem::open(std::string_view name, OpenMode mode) {
  if (absl::Status s = ValidateFileName(name); !s.ok()) return s;
  const std::string file(name);
  const int flags = O_RDWR | O_CLOEXEC | (mode == OpenMode::kCreateIfMissing ? O_CREAT : 0);
  const int fd = retry_eintr([&] { return ::openat(dir_fd_, file.c_str(), flags, 0644); });
  if (fd < 0) {
    const int err = errno;
    return ErrnoToStatus(err, absl::StrCat("open ", path(name)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoToStatus(err, absl::StrCat("fstat ", path(name)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat(path(name), " is not a regular file"));
  }
  if (mode == OpenMode::kCreateIfMissing) {
    std::lock_guard<std::mutex> lock(names_mu_);
    names_.insert(file);
  }
  std::shared_ptr<Inode> inode;
  {
    std::lock_guard<std::mutex> lock(inodes_mu_);
    // Sweeps closed inodes once the map has doubled since the last sweep: amortized O(1) per
    // open, where a sweep per open made opening N files O(N^2).
    if (inodes_.size() >= 2 * inodes_swept_at_ + 64) {
      absl::erase_if(inodes_, [](const auto& entry) { return entry.second.expired(); });
      inodes_swept_at_ = inodes_.size();
    }
    std::weak_ptr<Inode>& slot = inodes_[{st.st_dev, st.st_ino}];
    inode = slot.lock();
    if (inode != nullptr) {
      ::close(fd);  // already open: share its descriptor, size and sync state
    } else {
      inode = std::make_shared<Inode>(descriptors_, fd, static_cast<uint64_t>(st.st_size), file,
                                      st.st_dev, st.st_ino);
      slot = inode;
    }
  }
  auto handle = std::make_shared<Handle>(Handle{std::move(inode), file});
  return std::make_unique<PosixFile>(*this, std::move(handle));
}

std::vector<std::string> PosixFileSystem::list(std::string_view prefix) const {
  std::lock_guard<std::mutex> lock(names_mu_);
  std::vector<std::string> names;
  for (auto it = names_.lower_bound(prefix); it != names_.end() && it->starts_with(prefix); ++it) {
    names.push_back(*it);
  }
  return names;
}

bool PosixFileSystem::exists(std::string_view name) const {
  std::lock_guard<std::mutex> lock(names_mu_);
  return names_.contains(name);
}

void PosixFileSystem::rename(std::string_view from, std::string_view to, IoDone done) {
  absl::Status valid = ValidateFileName(from);
  if (valid.ok()) valid = ValidateFileName(to);
  submit([this, valid = std::move(valid), from = std::string(from), to = std::string(to),
          done = std::move(done)]() mutable -> absl::AnyInvocable<void()> {
    absl::Status status = valid;
    if (status.ok()) {
      Descriptors& d = *descriptors_;
      std::lock_guard<std::mutex> lock(d.mu);
      // A file open under `to` (not `from` itself) loses its name.
      absl::StatusOr<Inode*> replaced = from != to ? pin_name_locked(to) : nullptr;
      status = replaced.status();
      if (status.ok() && ::renameat(dir_fd_, from.c_str(), dir_fd_, to.c_str()) != 0) {
        const int err = errno;
        status = ErrnoToStatus(err, absl::StrCat("rename ", path(from), " to ", to));
      }
      if (replaced.ok()) settle_pinned_locked(*replaced, to, status.ok());
      if (status.ok() && from != to) {
        if (auto it = d.by_name.find(from); it != d.by_name.end()) {
          Inode* moved = it->second;
          d.by_name.erase(it);
          moved->name = to;
          d.by_name[to] = moved;
        }
      }
    }
    if (status.ok()) {
      std::lock_guard<std::mutex> lock(names_mu_);
      names_.erase(from);
      names_.insert(std::move(to));
    }
    return
        [status = std::move(status), done = std::move(done)]() mutable { done(std::move(status)); };
  });
}

void PosixFileSystem::remove(std::string_view name, IoDone done) {
  absl::Status valid = ValidateFileName(name);
  submit([this, valid = std::move(valid), name = std::string(name),
          done = std::move(done)]() mutable -> absl::AnyInvocable<void()> {
    absl::Status status = valid;
    if (status.ok()) {
      std::lock_guard<std::mutex> lock(descriptors_->mu);
      absl::StatusOr<Inode*> removed = pin_name_locked(name);  // keeps working while open
      status = removed.status();
      if (status.ok() && ::unlinkat(dir_fd_, name.c_str(), 0) != 0) {
        const int err = errno;
        status = ErrnoToStatus(err, absl::StrCat("remove ", path(name)));
      }
      if (removed.ok()) settle_pinned_locked(*removed, name, status.ok());
    }
    if (status.ok()) {
      std::lock_guard<std::mutex> lock(names_mu_);
      names_.erase(name);
    }
    return
        [status = std::move(status), done = std::move(done)]() mutable { done(std::move(status)); };
  });
}

void PosixFileSystem::sync_dir(IoDone done) {
  submit([this, done = std::move(done)]() mutable -> absl::AnyInvocable<void()> {
    absl::Status status;
    if (retry_eintr([&] { return ::fsync(dir_fd_); }) != 0) {
      const int err = errno;
      status = ErrnoToStatus(err, absl::StrCat("fsync directory ", dir_));
    }
    return
        [status = std::move(status), done = std::move(done)]() mutable { done(std::move(status)); };
  });
}

// Drops whole pages only, from where the last call stopped: a partly written last page stays
// cached, or the next write into it would first read it back from the disk.
void PosixFileSystem::release_cache(Handle& handle, uint64_t offset) {
  constexpr uint64_t kPage = 4096;
  Inode& inode = *handle.inode;
  const uint64_t up_to = std::min(offset, inode.end) / kPage * kPage;
  if (up_to <= inode.released_to) return;
  if (!ensure_open(inode).ok()) return;  // a hint: the next operation reports the error
  // Best effort: a failure only leaves the pages cached.
  (void)::posix_fadvise(inode.fd, static_cast<off_t>(inode.released_to),
                        static_cast<off_t>(up_to - inode.released_to), POSIX_FADV_DONTNEED);
  inode.released_to = up_to;
}

absl::Status PosixFileSystem::allocate(Handle& handle, uint64_t offset, uint64_t length) {
  Inode& inode = *handle.inode;
  if (offset > kMaxOffset || length > kMaxOffset - offset) {
    return absl::InvalidArgumentError(
        absl::StrCat("allocate ", path(handle.name), ": offset ", offset, " + length ", length,
                     " is too large"));
  }
  const uint64_t end = offset + length;
  if (end <= inode.end) return absl::OkStatus();
  if (absl::Status s = ensure_open(inode); !s.ok()) return s;
  const int r = retry_eintr([&] {
    return ::fallocate(inode.fd, 0, static_cast<off_t>(offset), static_cast<off_t>(length));
  });
  if (r != 0) {
    const int err = errno;
    // A file system without fallocate: reserve the space by writing zeros past the end.
    if (err == EOPNOTSUPP) return write_zeros(handle, inode.end, end - inode.end);
    // A partial allocation may have grown the file: leave the size as it was.
    const uint64_t old_end = inode.end;
    refresh_end(inode);
    if (inode.end > old_end &&
        retry_eintr([&] { return ::ftruncate(inode.fd, static_cast<off_t>(old_end)); }) == 0) {
      inode.end = old_end;
    }
    return ErrnoToStatus(err, absl::StrCat("fallocate ", path(handle.name)));
  }
  inode.end = end;
  inode.dirty = true;
  return absl::OkStatus();
}

absl::Status PosixFileSystem::write_zeros(Handle& handle, uint64_t offset, uint64_t length) {
  static const std::string* const kZeros = new std::string(1 << 20, '\0');
  Inode& inode = *handle.inode;
  const uint64_t old_end = inode.end;
  for (uint64_t done = 0; done < length;) {
    const uint64_t n = std::min<uint64_t>(kZeros->size(), length - done);
    if (absl::Status s = write(handle, false, offset + done, std::string_view(*kZeros).substr(0, n));
        !s.ok()) {
      // Earlier chunks grew the file: leave the size as it was, as for one failed write.
      if (inode.end > old_end &&
          retry_eintr([&] { return ::ftruncate(inode.fd, static_cast<off_t>(old_end)); }) == 0) {
        inode.end = old_end;
      }
      return s;
    }
    done += n;
  }
  return absl::OkStatus();
}

absl::Status PosixFileSystem::write(Handle& handle, bool append, uint64_t offset,
                                    std::string_view data) {
  Inode& inode = *handle.inode;
  if (append) offset = inode.end;
  if (offset > kMaxOffset || data.size() > kMaxOffset - offset) {
    return absl::InvalidArgumentError(absl::StrCat("write of ", data.size(), " bytes at offset ",
                                                   offset, " to ", path(handle.name),
                                                   " is past the largest file offset"));
  }
  if (data.empty()) return absl::OkStatus();
  if (absl::Status s = ensure_open(inode); !s.ok()) return s;
  const uint64_t old_end = inode.end;
  inode.dirty = true;
  size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::pwrite(inode.fd, data.data() + written, data.size() - written,
                               static_cast<off_t>(offset + written));
    if (n > 0) {
      written += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int err = n == 0 ? EIO : errno;  // pwrite of a non-empty buffer never returns 0
    // Leave the size as it was, as a write that failed before touching the disk would.
    if (offset + written > old_end &&
        retry_eintr([&] { return ::ftruncate(inode.fd, static_cast<off_t>(old_end)); }) == 0) {
      inode.end = old_end;
    } else {
      refresh_end(inode);
    }
    return ErrnoToStatus(err, absl::StrCat("pwrite ", path(handle.name), " at offset ", offset,
                                           " (", data.size(), " bytes, ", written, " written)"));
  }
  inode.end = std::max(inode.end, offset + data.size());
  return absl::OkStatus();
}

absl::StatusOr<std::string> PosixFileSystem::read(Handle& handle, uint64_t offset,
                                                  uint64_t length) {
  Inode& inode = *handle.inode;
  if (offset >= inode.end || length == 0) return std::string();
  if (absl::Status s = ensure_open(inode); !s.ok()) return s;
  // Sized by the known end: a huge `length` allocates no more than the file holds.
  std::string buffer(std::min(length, inode.end - offset), '\0');
  const uint64_t end = offset + buffer.size();
  // Large reads skip holes (space allocated and never written reads as zeros, which the
  // buffer already holds): a recovery reading preallocated segments would otherwise make the
  // kernel fill the page cache with zeros, most of a restart with thousands of streams.
  uint64_t pos = offset;
  while (pos < end) {
    uint64_t data = pos;
    uint64_t data_end = end;
    if (buffer.size() >= kSkipHolesFrom) {
      const off_t d = ::lseek(inode.fd, static_cast<off_t>(pos), SEEK_DATA);
      if (d < 0 && errno == ENXIO) break;  // no data after pos: the rest is zeros
      if (d >= 0) {
        data = static_cast<uint64_t>(d);
        if (data >= end) break;
        const off_t h = ::lseek(inode.fd, d, SEEK_HOLE);
        if (h >= 0) data_end = std::min(end, static_cast<uint64_t>(h));
      }  // else: seeking unsupported here, read it all
    }
    while (data < data_end) {
      const ssize_t n = ::pread(inode.fd, buffer.data() + (data - offset), data_end - data,
                                static_cast<off_t>(data));
      if (n > 0) {
        data += static_cast<uint64_t>(n);
        continue;
      }
      if (n == 0) {  // end of file
        buffer.resize(data - offset);
        return buffer;
      }
      const int err = errno;
      if (err == EINTR) continue;
      return ErrnoToStatus(err, absl::StrCat("pread ", path(handle.name), " at offset ", data,
                                             " (", data_end - data, " bytes)"));
    }
    pos = data_end;
  }
  return buffer;
}

absl::Status PosixFileSystem::sync(Handle& handle) {
  Inode& inode = *handle.inode;
  syncs_.fetch_add(1, std::memory_order_relaxed);
  if (!inode.sync_failure.ok()) return inode.sync_failure;
  if (!inode.dirty) return absl::OkStatus();  // an earlier fdatasync covered everything
  if (absl::Status s = ensure_open(inode); !s.ok()) return s;
  fdatasyncs_.fetch_add(1, std::memory_order_relaxed);
  const int64_t started = monotonic_ns();
  const int r = retry_eintr([&] { return ::fdatasync(inode.fd); });
  fdatasync_latency_.record(monotonic_ns() - started);
  if (r != 0) {
    const int err = errno;
    inode.sync_failure = ErrnoToStatus(err, absl::StrCat("fdatasync ", path(handle.name)));
    return inode.sync_failure;
  }
  inode.dirty = false;
  return absl::OkStatus();
}

absl::Status PosixFileSystem::truncate(Handle& handle, uint64_t size) {
  Inode& inode = *handle.inode;
  if (size > kMaxOffset) {
    return absl::InvalidArgumentError(absl::StrCat("truncate ", path(handle.name), " to ", size,
                                                   " bytes: past the largest file offset"));
  }
  if (absl::Status s = ensure_open(inode); !s.ok()) return s;
  inode.dirty = true;
  if (retry_eintr([&] { return ::ftruncate(inode.fd, static_cast<off_t>(size)); }) != 0) {
    const int err = errno;
    refresh_end(inode);
    return ErrnoToStatus(err, absl::StrCat("truncate ", path(handle.name), " to ", size, " bytes"));
  }
  inode.end = size;
  inode.released_to = std::min(inode.released_to, size);
  return absl::OkStatus();
}

absl::Status PosixFileSystem::ensure_open(Inode& inode) {
  std::lock_guard<std::mutex> lock(descriptors_->mu);
  return ensure_open_locked(inode);
}

absl::Status PosixFileSystem::ensure_open_locked(Inode& inode) {
  Descriptors& d = *descriptors_;
  if (inode.fd >= 0) {
    if (inode.in_lru) d.lru.splice(d.lru.begin(), d.lru, inode.lru_position);
    close_surplus_locked(&inode);
    return absl::OkStatus();
  }
  WALLE_CHECK_MSG(!inode.pinned && !inode.name.empty(), "a nameless file lost its descriptor");
  close_surplus_locked(&inode);
  const int fd = retry_eintr([&] { return ::openat(dir_fd_, inode.name.c_str(), O_RDWR | O_CLOEXEC); });
  if (fd < 0) {
    const int err = errno;
    return ErrnoToStatus(err, absl::StrCat("reopen ", path(inode.name)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_dev != inode.dev || st.st_ino != inode.ino) {
    ::close(fd);
    return absl::DataLossError(absl::StrCat("reopen ", path(inode.name),
                                            ": the name no longer holds this file (was the data "
                                            "directory changed behind the server's back?)"));
  }
  inode.fd = fd;
  ++d.open;
  ++d.reopens;
  inode.lru_position = d.lru.insert(d.lru.begin(), &inode);
  inode.in_lru = true;
  return absl::OkStatus();
}

void PosixFileSystem::close_surplus_locked(const Inode* keep) {
  Descriptors& d = *descriptors_;
  if (d.max_open == 0) return;
  // `keep` may not be open yet: leave room for it.
  const size_t allowed = keep->fd >= 0 ? d.max_open : d.max_open - 1;
  auto it = d.lru.end();
  while (d.open > allowed && it != d.lru.begin()) {
    --it;
    Inode* victim = *it;
    if (victim == keep) continue;
    // Unsynced writes are made durable first: a write error reported to a descriptor that no
    // longer exists would be lost (and a sticky error is kept with the inode).
    if (victim->dirty && victim->sync_failure.ok()) {
      fdatasyncs_.fetch_add(1, std::memory_order_relaxed);
      if (retry_eintr([&] { return ::fdatasync(victim->fd); }) != 0) {
        const int err = errno;
        victim->sync_failure = ErrnoToStatus(err, absl::StrCat("fdatasync ", path(victim->name)));
      } else {
        victim->dirty = false;
      }
    }
    ::close(victim->fd);
    victim->fd = -1;
    victim->in_lru = false;
    it = d.lru.erase(it);
    --d.open;
    ++d.closed_for_cap;
  }
}

absl::StatusOr<PosixFileSystem::Inode*> PosixFileSystem::pin_name_locked(const std::string& name) {
  auto it = descriptors_->by_name.find(name);
  if (it == descriptors_->by_name.end()) return nullptr;
  Inode* inode = it->second;
  if (absl::Status s = ensure_open_locked(*inode); !s.ok()) return s;
  pin_locked(*inode);
  return inode;
}

void PosixFileSystem::settle_pinned_locked(Inode* inode, const std::string& name, bool changed) {
  if (inode == nullptr) return;
  if (changed) {
    inode->name.clear();
    descriptors_->by_name.erase(name);
  } else {
    unpin_locked(*inode);
  }
}

void PosixFileSystem::pin_locked(Inode& inode) {
  if (inode.pinned) return;
  inode.pinned = true;
  if (inode.in_lru) descriptors_->lru.erase(inode.lru_position);
  inode.in_lru = false;
}

void PosixFileSystem::unpin_locked(Inode& inode) {
  inode.pinned = false;
  inode.lru_position = descriptors_->lru.insert(descriptors_->lru.begin(), &inode);
  inode.in_lru = true;
}

void PosixFileSystem::refresh_end(Inode& inode) {
  struct stat st;
  if (::fstat(inode.fd, &st) == 0) inode.end = static_cast<uint64_t>(st.st_size);
}

}  // namespace walle::disk
