namespace DmEra.Nbd.Exports;

/// <summary>What a plain storage export (a file, memory) can do: everything but rotational seeks.</summary>
internal static class NbdExportCapabilityDefaults
{
    public static NbdExportCapabilities Storage(bool readOnly) =>
        NbdExportCapabilities.Flush | NbdExportCapabilities.Trim | NbdExportCapabilities.WriteZeroes
        | NbdExportCapabilities.FastZero | NbdExportCapabilities.MultiConn | NbdExportCapabilities.Cache
        | (readOnly ? NbdExportCapabilities.ReadOnly : 0);
}
