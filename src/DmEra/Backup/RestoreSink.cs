namespace DmEra.Backup;

/// <summary>Where a restore writes: a file or device, or an NBD export.</summary>
public abstract class RestoreSink : IDisposable
{
    public abstract void Write(long offset, ReadOnlySpan<byte> data);
    public abstract void Zero(long offset, long length);
    public abstract void Finish();
    public abstract void Dispose();

    public static RestoreSink Open(string target, long size) =>
        NbdUri.IsNbdUri(target) ? new NbdSink(target, size) : new FileSink(target, size);

    private sealed class FileSink : RestoreSink
    {
        private readonly FileStream _file;
        private readonly bool _sparse;
        private readonly byte[] _zeros = new byte[1 << 20];

        /// <summary>
        /// A device must hold the volume. A regular file is written only when it is new, empty or exactly the
        /// volume's size (then replaced whole, as <c>qemu-img convert</c> replaces its target): a file of another
        /// size is more likely the wrong file than an old restore, and truncating or growing it would lose data.
        /// </summary>
        public FileSink(string path, long size)
        {
            var isDevice = path.StartsWith("/dev/", StringComparison.Ordinal);
            if (Directory.Exists(path)) throw new BackupException($"{path} is a directory: give a file, a device or an NBD URI to restore to");
            if (!isDevice && new FileInfo(path) is { Exists: true, Length: > 0 } existing && existing.Length != size)
                throw new BackupException($"{path} exists and is {existing.Length} bytes, the volume {size}: restore writes a new or empty file or one of the volume's size; remove it or give another");
            try
            {
                _file = new FileStream(path, isDevice ? FileMode.Open : FileMode.OpenOrCreate, FileAccess.Write, FileShare.None, 1);
            }
            catch (DirectoryNotFoundException e)
            {
                throw new BackupException($"cannot restore to {path}: no directory {Path.GetDirectoryName(Path.GetFullPath(path))}", e);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new BackupException($"cannot restore to {path}: permission denied", e);
            }
            if (isDevice)
            {
                if (_file.Seek(0, SeekOrigin.End) < size) Fail($"{path} is smaller than the volume ({size} bytes)");
            }
            else
            {
                // Emptied first, so the old contents do not show through where the point reads zeros: those stay holes.
                _file.SetLength(0);
                _file.SetLength(size);
                _sparse = true;
            }
        }

        private void Fail(string message)
        {
            _file.Dispose();
            throw new BackupException(message);
        }

        public override void Write(long offset, ReadOnlySpan<byte> data) => RandomAccess.Write(_file.SafeFileHandle, data, offset);

        public override void Zero(long offset, long length)
        {
            if (_sparse) return;
            for (long done = 0; done < length; done += _zeros.Length)
                RandomAccess.Write(_file.SafeFileHandle, _zeros.AsSpan(0, (int)Math.Min(_zeros.Length, length - done)), offset + done);
        }

        public override void Finish() => _file.Flush(flushToDisk: true);
        public override void Dispose() => _file.Dispose();
    }

    private sealed class NbdSink : RestoreSink
    {
        private readonly NbdConnection _nbd;
        private readonly byte[] _zeros = new byte[1 << 20];

        public NbdSink(string uri, long size)
        {
            _nbd = NbdConnection.Open(uri, []);
            if (_nbd.IsReadOnly) Fail($"{uri} is read-only");
            if (_nbd.Size < size) Fail($"{uri} is {_nbd.Size} bytes, smaller than the volume ({size} bytes)");
        }

        private void Fail(string message)
        {
            _nbd.Dispose();
            throw new BackupException(message);
        }

        public override void Write(long offset, ReadOnlySpan<byte> data) => _nbd.Write(offset, data);

        public override void Zero(long offset, long length)
        {
            if (_nbd.CanZero)
            {
                // One request is at most 32 bits long; stay well inside.
                for (long done = 0; done < length; done += 1L << 30) _nbd.Zero(offset + done, Math.Min(1L << 30, length - done));
                return;
            }
            for (long done = 0; done < length; done += _zeros.Length) _nbd.Write(offset + done, _zeros.AsSpan(0, (int)Math.Min(_zeros.Length, length - done)));
        }

        public override void Finish() => _nbd.Flush();
        public override void Dispose() => _nbd.Dispose();
    }
}
