using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace DmEra.Nbd.Session;

/// <summary>
/// Linux's idle scheduling class (SCHED_IDLE, `chrt --idle`: the CPU's counterpart of `ionice -c3`) for sections
/// of a thread: there the thread runs only on CPU time no normal thread wants. A background export's reads copy
/// and send in such sections (<see cref="INbdExport.Background"/>), so a backup reader on a busy machine slows
/// itself instead of the live volume (bench/results/view-2026-12-03f.md).
/// <para>Sections, not whole threads: a thread the idle class creates is in the idle class too (clone inherits
/// the policy; SCHED_RESET_ON_FORK resets only real-time and negative nice), and the thread pool creates its
/// workers on the thread that queues work. A lane's bookkeeping (releasing slots, waking waiters) queues work,
/// so it runs in the normal class between sections. Leaving the class needs CAP_SYS_NICE or an RLIMIT_NICE of
/// 20; without either, sections are not entered at all (<see cref="Unsupported"/>), rather than strand a thread.
/// A section that queued work anyway (a read that missed the page cache goes to the thread pool) may have
/// created a pool worker in the idle class: after such a section every idle-class thread that is in no section
/// is put back in the normal class.</para>
/// </summary>
internal static partial class IdleClass
{
    /// <summary>
    /// A section copies at most this much in one system call. The scheduler wakes normal threads on a CPU that
    /// runs only idle-class ones as if it were idle, but on a PREEMPT_NONE kernel (this machine's) the woken thread
    /// gets the CPU only when the idle-class one leaves the kernel: a 256 KiB send to a Unix socket is tens of
    /// microseconds without a preemption point, on the path of every live request woken there.
    /// </summary>
    public const int PieceBytes = 64 * 1024;

    private const int SchedOther = 0;
    private const int SchedIdle = 5;
    private static readonly Lazy<string?> s_unsupported = new(Probe);
    private static readonly ConcurrentDictionary<int, byte> s_inSection = new();
    [ThreadStatic] private static int t_tid;

    [StructLayout(LayoutKind.Sequential)]
    private struct SchedParam
    {
        public int Priority;
    }

    [LibraryImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static partial int SetScheduler(int tid, int policy, ref SchedParam param);

    [LibraryImport("libc", EntryPoint = "sched_getscheduler", SetLastError = true)]
    private static partial int GetScheduler(int tid);

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetTid();

    /// <summary>Why sections run in the normal class on this host, or null when they enter the idle class.</summary>
    public static string? Unsupported => s_unsupported.Value;

    /// <summary>The calling thread's scheduling policy: 0 normal, 5 idle; -1 off Linux.</summary>
    public static int PolicyOfCurrentThread() => OperatingSystem.IsLinux() ? GetScheduler(0) : -1;

    /// <summary>Puts the calling thread in the idle class until the section is disposed (a no-op where unsupported).</summary>
    public static Section Enter()
    {
        if (Unsupported is not null) return default;
        var tid = t_tid != 0 ? t_tid : t_tid = GetTid();
        s_inSection[tid] = 0;
        var pool = ThreadPool.ThreadCount;
        if (Set(0, SchedIdle) is not null)
        {
            s_inSection.TryRemove(tid, out _);
            return default;
        }
        return new Section(tid, pool);
    }

    public readonly struct Section(int tid, int poolThreads) : IDisposable
    {
        public void Dispose()
        {
            if (tid == 0) return;
            Set(0, SchedOther);
            s_inSection.TryRemove(tid, out _);
            if (ThreadPool.ThreadCount > poolThreads) RepairOthers();
        }
    }

    /// <summary>Puts back in the normal class every thread of this process in the idle class outside a section.</summary>
    private static void RepairOthers()
    {
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out var tid) || s_inSection.ContainsKey(tid)) continue;
                if (GetScheduler(tid) == SchedIdle && !s_inSection.ContainsKey(tid)) Set(tid, SchedOther);
            }
        }
        catch (IOException) { }   // a thread that ended meanwhile
    }

    private static string? Set(int tid, int policy)
    {
        var param = new SchedParam();
        return SetScheduler(tid, policy, ref param) == 0 ? null : Marshal.GetLastPInvokeErrorMessage();
    }

    /// <summary>Enters and leaves the class once, on a thread of its own, so a failure to leave strands nobody.</summary>
    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux()) return "the idle scheduling class is Linux only";
        string? reason = null;
        var probe = new Thread(() =>
        {
            try
            {
                if (Set(0, SchedIdle) is { } enter) reason = $"sched_setscheduler(SCHED_IDLE) failed: {enter}";
                else if (Set(0, SchedOther) is { } leave) reason = $"a thread cannot leave SCHED_IDLE (needs CAP_SYS_NICE or RLIMIT_NICE 20): {leave}";
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                reason = e.Message;
            }
        }) { IsBackground = true, Name = "sched idle probe" };
        probe.Start();
        probe.Join();
        return reason;
    }
}
