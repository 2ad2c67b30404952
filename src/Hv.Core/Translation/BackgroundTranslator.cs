using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using Hv.Core.Decoding;

namespace Hv.Core.Translation;

/// <summary>A unit compiled off the vCPU thread, waiting to be installed (or the error compiling it raised).</summary>
/// <param name="Region">The blocks the unit was made from (entry first).</param>
/// <param name="Unit">The compiled unit, or null if it was stale before compiling or compiling failed.</param>
/// <param name="Ticks">Compile time.</param>
/// <param name="Error">What compiling threw, if it did.</param>
internal readonly record struct CompletedTranslation(DecodedBlock[] Region, TranslatedUnit? Unit, long Ticks, ExceptionDispatchInfo? Error);

/// <summary>
/// Compiles regions on a thread-pool thread while the vCPU keeps interpreting. The vCPU selects the region
/// (the code cache is single-threaded), hands it over with <see cref="Request"/>, and at a dispatch point takes
/// finished units back with <see cref="TryTake"/> and installs them itself — so the translation cache, the
/// decoded blocks and the counters stay vCPU-thread only, and the dispatcher's only cost is one volatile read
/// (<see cref="HasCompleted"/>). Both queues are lock-free; at most one worker drains the requests at a time.
/// </summary>
internal sealed class BackgroundTranslator : IThreadPoolWorkItem
{
    private readonly ConcurrentQueue<TranslatedUnit> requests = new();
    private readonly ConcurrentQueue<CompletedTranslation> completed = new();
    private int workerActive; // 1 while a worker is queued or draining
    private int ready;        // completed but not yet taken
    private int outstanding;  // requested but not yet taken (vCPU thread only)
    private readonly ManualResetEventSlim released = new(initialState: true);

    /// <summary>True when at least one compiled unit waits to be taken (one volatile read: fine on the hot path).</summary>
    public bool HasCompleted => Volatile.Read(ref ready) != 0;

    /// <summary>Regions requested and not yet taken back.</summary>
    public int Outstanding => outstanding;

    /// <summary>
    /// Queues <paramref name="unit"/> (made by <see cref="Translator.CreateUnit"/> on the vCPU thread, so it holds
    /// its own copy of the instructions) for compilation. vCPU thread only.
    /// </summary>
    public void Request(TranslatedUnit unit)
    {
        outstanding++;
        requests.Enqueue(unit);
        if (Interlocked.CompareExchange(ref workerActive, 1, 0) == 0) ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    /// <summary>Takes one compiled unit back. vCPU thread only.</summary>
    public bool TryTake(out CompletedTranslation result)
    {
        if (!completed.TryDequeue(out result)) return false;
        Interlocked.Decrement(ref ready);
        outstanding--;
        return true;
    }

    /// <summary>Blocks until every requested region is compiled (tests and benchmarks use it to be deterministic).</summary>
    public void WaitForAll()
    {
        var spin = new SpinWait();
        while (Volatile.Read(ref ready) < outstanding) spin.SpinOnce();
    }

    /// <summary>
    /// Tests: keeps requested regions uncompiled (in flight) until <see cref="Release"/>, to reproduce a slow
    /// compile at a chosen point. <see cref="WaitForAll"/> must not be called meanwhile.
    /// </summary>
    internal void Hold() => released.Reset();

    /// <summary>Tests: lets the worker compile again (see <see cref="Hold"/>).</summary>
    internal void Release() => released.Set();

    void IThreadPoolWorkItem.Execute()
    {
        while (true)
        {
            while (requests.TryDequeue(out TranslatedUnit? unit))
            {
                released.Wait();
                completed.Enqueue(Compile(unit));
                Interlocked.Increment(ref ready);
            }
            Volatile.Write(ref workerActive, 0);
            // A request that raced with the write above would otherwise wait for the next one.
            if (requests.IsEmpty || Interlocked.CompareExchange(ref workerActive, 1, 0) != 0) return;
        }
    }

    private static CompletedTranslation Compile(TranslatedUnit unit)
    {
        DecodedBlock[] region = unit.Blocks;
        // Already stale: the vCPU would only discard it. (A racy read is fine: the vCPU checks again at install.)
        if (unit.IsStale) return new CompletedTranslation(region, null, 0, null);
        try
        {
            Translator.Compile(unit, out long ticks);
            return new CompletedTranslation(region, unit, ticks, null);
        }
        catch (Exception e)
        {
            return new CompletedTranslation(region, null, 0, ExceptionDispatchInfo.Capture(e));
        }
    }
}
