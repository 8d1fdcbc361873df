// A minimal fork-join parallel-for over std::thread: workers take units from an atomic counter.
// The calling thread works too, so num_threads == 1 runs inline with no thread at all.
#pragma once

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace a2d {

inline int default_num_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// Runs body(worker, next) once on each of up to num_threads workers (<= 0: all cores); the body
// takes unit indices from the shared counter `next` until it passes `units`, so it can set up
// per-thread scratch once. The first exception is rethrown after all workers have joined.
template <class Body>
void parallel_for(int64_t units, int num_threads, Body&& body) {
  if (num_threads <= 0) num_threads = default_num_threads();
  const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, units)));
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](int worker) {
    try {
      body(worker, next);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  for (int w = 1; w < workers; ++w) threads.emplace_back(run, w);
  run(0);
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace a2d
