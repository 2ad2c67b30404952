namespace Hv.Reporting.Tests.Support;

/// <summary>A temporary directory per test class instance, deleted afterwards.</summary>
public abstract class TempDirTest : IDisposable
{
    protected string Dir { get; } = Directory.CreateTempSubdirectory("hv-report-").FullName;

    protected string PathOf(string name) => Path.Combine(Dir, name);

    public void Dispose()
    {
        Directory.Delete(Dir, recursive: true);
        GC.SuppressFinalize(this);
    }
}
